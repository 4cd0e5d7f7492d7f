import type { Outcome } from '$lib/trpc';
import type { KeyAction, KeyActionResult, ProviderId } from './types';

/** A change's outcome as the page shows it: the procedure's `notice`, or the reason it was refused. */
export function resultOf(
	action: KeyAction,
	provider: ProviderId,
	outcome: Outcome<{ notice: string }>
): KeyActionResult {
	return outcome.ok
		? { action, provider, ok: true, message: outcome.value.notice }
		: { action, provider, ok: false, message: outcome.message, field: outcome.field };
}
