// Money is integer micro-dollars everywhere; this turns it into text and reads amounts people type,
// with integer arithmetic only.
// The rule: pages and messages show cents from $1 up and three significant digits below $1 (half
// away from zero); the CSV shows the exact micro-dollars.

const MICROS_PER_USD = 1_000_000;

/** `units / 10^scale` in digits (units a whole number ≥ 0), trailing zeros dropped down to `minDecimals`. */
function decimalString(units: number, scale: number, minDecimals: number, separators = true): string {
	const divisor = 10 ** scale;
	const fractionUnits = units % divisor;
	const whole = (units - fractionUnits) / divisor;
	const fraction = String(fractionUnits).padStart(scale, '0').replace(/0+$/, '').padEnd(minDecimals, '0');
	const wholeText = separators ? whole.toLocaleString('en-US') : String(whole);
	return fraction === '' ? wholeText : `${wholeText}.${fraction}`;
}

/** "$1.23", "$1,234.57", "$0.0425", "$0.000123", "-$1.50": how every page and message prints an amount. */
export function formatUsd(micros: number): string {
	const value = Math.round(micros);
	if (value === 0) return '$0.00';
	const sign = value < 0 ? '-' : '';
	const abs = Math.abs(value);
	if (abs >= MICROS_PER_USD) return `${sign}$${decimalString(Math.round(abs / 10_000), 2, 2)}`;
	// Three significant digits; whole micro-dollars, so the rounding is exact.
	const step = 10 ** Math.max(0, String(abs).length - 3);
	return `${sign}$${decimalString(Math.round(abs / step) * step, 6, 2)}`;
}

/** "2.500000", "0.000123": exact, six decimals, no symbol or separators (the CSV's machine format). */
export function formatUsdExact(micros: number): string {
	if (!Number.isSafeInteger(micros)) throw new RangeError('an amount must be a whole number of micro-dollars');
	const sign = micros < 0 ? '-' : '';
	return `${sign}${decimalString(Math.abs(micros), 6, 6, false)}`;
}

/** "5.00", "0.50", "0.000001", "" for none: exact, for a form field's value (`usdToMicros` reads it back). */
export function formatUsdInput(micros: number | null): string {
	return micros === null ? '' : formatUsdExact(micros).replace(/(\.\d\d\d*?)0+$/, '$1');
}

/** A catalog price (micro-dollars per million tokens) as dollars per 1,000 tokens, exact: 150_000 → "$0.00015". */
export function pricePer1k(microsPerMTok: number): string {
	// µ$ per Mtok = 10^-6 $ per 10^6 tok, so $ per 1k tok = microsPerMTok / 10^9.
	const value = Math.round(microsPerMTok);
	return value === 0 ? '$0.00' : `$${decimalString(value, 9, 2)}`;
}

/** A catalog price (micro-dollars per million tokens) as dollars per million tokens, exact: 150_000 → "$0.15". */
export function pricePerMillion(microsPerMTok: number): string {
	const value = Math.round(microsPerMTok);
	return value === 0 ? '$0.00' : `$${decimalString(value, 6, 2)}`;
}

/** Dollars as a JSON number or a chart value; text goes through the formatters above. */
export const microsToUsd = (micros: number): number => micros / MICROS_PER_USD;

// "$1,234.50", "2.5", ".25", "5.": digits, optional `$`, thousands separators only in groups of three.
const AMOUNT = /^\$?\s*(\d{1,3}(?:,\d{3})+|\d*)(?:\.(\d*))?$/;

/**
 * An amount a person typed ("2.50", "$1,234.5") or a JSON number (0.25) in integer micro-dollars,
 * read from its decimal digits (no float arithmetic). undefined when it is not one: negative, more
 * than six decimals, an exponent, not finite, or beyond a safe integer.
 */
export function usdToMicros(amount: string | number): number | undefined {
	if (typeof amount === 'number' && !Number.isFinite(amount)) return undefined;
	const match = AMOUNT.exec(String(amount).trim());
	if (!match) return undefined;
	const whole = (match[1] ?? '').replace(/,/g, '');
	const fraction = (match[2] ?? '').replace(/0+$/, '');
	// Nothing but a `$` or a point is no amount; a seventh decimal is finer than money goes here.
	if ((whole === '' && !match[2]) || fraction.length > 6) return undefined;
	const micros = Number(whole || '0') * MICROS_PER_USD + Number(fraction.padEnd(6, '0'));
	return Number.isSafeInteger(micros) ? micros : undefined;
}
