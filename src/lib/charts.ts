import {
	BarController,
	BarElement,
	CategoryScale,
	Chart,
	Legend,
	LinearScale,
	LineController,
	LineElement,
	PointElement,
	Tooltip,
	type ChartConfiguration
} from 'chart.js';

/**
 * Chart.js for every chart of the app (usage dashboard, admin analytics), registered once. Only
 * what the charts draw is registered (bars and lines on category and linear scales, tooltip,
 * legend), which keeps the bundle small.
 */
Chart.register(
	BarController,
	BarElement,
	LineController,
	LineElement,
	PointElement,
	CategoryScale,
	LinearScale,
	Tooltip,
	Legend
);

export { Chart, type ChartConfiguration };

/** Theme colours from the page's CSS variables, so charts follow light and dark mode. */
export function themeColors(): { text: string; muted: string; grid: string } {
	return {
		text: cssColor('--text', '#1d1d1b'),
		muted: cssColor('--muted', '#5b5b57'),
		grid: cssColor('--border', '#d9d9d3')
	};
}

/** A colour from a CSS custom property of app.css (e.g. `--accent`). */
export function cssColor(property: string, fallback = '#888'): string {
	return getComputedStyle(document.documentElement).getPropertyValue(property).trim() || fallback;
}
