import type { ProviderId } from '$lib/providers';

export { Chart, themeColors } from '$lib/charts';

/** One hue per provider; the app key's share is the same hue, lighter, so the pairs read together. */
export const PROVIDER_COLORS: Record<ProviderId, { own: string; app: string }> = {
	openai: { own: '#0f7b5f', app: '#7fd1b9' },
	anthropic: { own: '#b4532a', app: '#f0b08f' },
	google: { own: '#2f5bd3', app: '#9db6f2' },
	openrouter: { own: '#6d3fb8', app: '#c5a8f0' }
};

export const KEY_SOURCE_COLORS = { user: '#1f7a3a', app: '#8a5a00' } as const;

/** Every UTC day (YYYY-MM-DD) from `from` (inclusive) to `to` (exclusive): days without use are charted as 0. */
export function daysBetween(from: Date, to: Date): string[] {
	const days: string[] = [];
	for (
		let t = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
		t < to.getTime();
		t += 86_400_000
	) {
		days.push(new Date(t).toISOString().slice(0, 10));
	}
	return days;
}

const dayLabel = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** "13 Nov" for an axis. */
export const shortDay = (day: string): string => dayLabel.format(new Date(`${day}T00:00:00Z`));

/** The options of the tokens line (a plain type: chart.js's own dataset types do not narrow). */
export interface TokensLine {
	type: 'line';
	label: string;
	data: number[];
	borderColor: string;
	backgroundColor: string;
	borderWidth: number;
	pointRadius: number[];
	tension: number;
	cubicInterpolationMode: 'default' | 'monotone';
	stepped: boolean;
	yAxisID: string;
	order: number;
}

/**
 * The tokens-per-day line. Straight segments (tension 0): a smoothed curve between days would
 * draw values (and dips below zero) that no day had.
 */
export function tokensLineDataset(tokensPerDay: number[], color: string): TokensLine {
	return {
		type: 'line',
		label: 'Tokens',
		data: tokensPerDay,
		borderColor: color,
		backgroundColor: color,
		borderWidth: 2,
		// Days without use stay a flat line, not a row of dots.
		pointRadius: tokensPerDay.map((tokens) => (tokens > 0 ? 3 : 0)),
		tension: 0,
		cubicInterpolationMode: 'default',
		stepped: false,
		yAxisID: 'tokens',
		order: 1
	};
}
