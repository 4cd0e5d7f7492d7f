import type { Kysely } from 'kysely';
import type { Database, DatabaseKind } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import type { Logger } from '$lib/server/log';
import { DAY_MS, type UtcRange } from '$lib/server/utc-range';
import { usageCsvStream, type UsageCsvProgress } from './csv-stream';
import { resolveUsageExport, type ExportStrategy, type UsageExportFilters } from './export-query';

export interface UsageExportDeps {
	db: Kysely<Database>;
	kind: DatabaseKind;
	log?: Logger;
}

export interface UsageExportActor {
	userId: string;
	ip: string | null;
}

export interface UsageExport {
	filename: string;
	filters: UsageExportFilters;
	body: ReadableStream<Uint8Array>;
}

/** `latchkey-usage-<from>-<to>.csv`; whole days by date, otherwise compact UTC date-times. */
export function usageCsvFilename(range: UtcRange): string {
	const label = (date: Date) => {
		const iso = date.toISOString();
		return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace(/:/g, '').replace(/\.\d{3}/, '');
	};
	const lastDay = new Date(range.to.getTime() - DAY_MS);
	const toLabel = range.to.toISOString().endsWith('T00:00:00.000Z') ? label(lastDay) : label(range.to);
	return `latchkey-usage-${label(range.from)}-${toLabel}.csv`;
}

/**
 * `GET /api/admin/usage.csv`: one `usage.export` audit entry per export, written before the last
 * rows leave (no audit, no complete file), or with how far it got when the client stops or reading fails.
 */
export async function exportUsageCsv(
	deps: UsageExportDeps,
	actor: UsageExportActor,
	query: Record<string, unknown>,
	options: { strategy?: ExportStrategy; batchSize?: number; now?: Date } = {}
): Promise<UsageExport> {
	const filters = await resolveUsageExport(deps.db, query, { now: options.now });
	const audit = (progress: UsageCsvProgress, completed: boolean, outcome: string) =>
		recordAudit(deps.db, {
			action: 'usage.export',
			actorUserId: actor.userId,
			subjectUserId: filters.userId ?? null,
			provider: filters.provider ?? null,
			ip: actor.ip,
			details: {
				from: filters.from.toISOString(),
				to: filters.to.toISOString(),
				user: filters.userEmail ?? null,
				rows: progress.rows,
				bytes: progress.bytes,
				completed,
				outcome
			}
		});
	const body = usageCsvStream(deps, filters, {
		strategy: options.strategy,
		batchSize: options.batchSize,
		beforeComplete: (progress) => audit(progress, true, 'completed'),
		onAbort: async (progress, reason, error) => {
			if (reason === 'failed') deps.log?.error({ err: error }, 'usage export failed');
			await audit(progress, false, reason).catch((auditError: unknown) =>
				deps.log?.error({ err: auditError }, 'usage export audit entry could not be written')
			);
		}
	});
	return { filename: usageCsvFilename(filters), filters, body };
}
