import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { oneLineName, parseInput, toOneLineName, userText } from '$lib/server/validation';

const message = z.object({ content: userText(z.string(), 'Messages') });
const label = z.object({ label: oneLineName(z.string().max(64), 'Labels') });

describe('shared text rules', () => {
	it('refuses NUL in user text with a 400 naming the field, and keeps everything else', () => {
		expect(() => parseInput(message, { content: 'a\u0000b' })).toThrow(
			expect.objectContaining({ status: 400, message: 'Messages cannot contain NUL characters (U+0000).' })
		);
		const prose = 'Line one\nline two\t\u202Eolleh\u202C zero\u200Bwidth 👨‍👩‍👧';
		expect(parseInput(message, { content: prose }).content).toBe(prose);
	});

	it.each([
		['NUL', 'a\u0000b', /control characters/],
		['a line break', 'a\nb', /control characters/],
		['a line separator', 'a\u2028b', /control characters/],
		['right-to-left override', 'invoice\u202Efdp.exe', /invisible or text-direction/],
		['left-to-right embedding', 'a\u202Ab', /invisible or text-direction/],
		['a bidi isolate', 'a\u2066b\u2069', /invisible or text-direction/],
		['a right-to-left mark', 'a\u200Fb', /invisible or text-direction/],
		['an Arabic letter mark', 'a\u061Cb', /invisible or text-direction/],
		['a zero-width space', 'pro\u200Bd', /invisible or text-direction/],
		['a word joiner', 'pro\u2060d', /invisible or text-direction/],
		['a byte order mark', 'pro\uFEFFd', /invisible or text-direction/],
		['a joiner outside a word', '\u200Dprod', /invisible or text-direction/],
		['a non-joiner before a space', 'prod\u200C ', /invisible or text-direction/]
	])('refuses %s in a one-line name', (_name, value, expected) => {
		expect(() => parseInput(label, { label: value })).toThrow(
			expect.objectContaining({ status: 400, message: expect.stringMatching(expected), details: expect.anything() })
		);
		expect(() => parseInput(label, { label: value })).toThrow(/^Labels /);
	});

	it.each([
		['Hebrew', 'שלום עולם'],
		['Arabic', 'مفتاح العمل'],
		['Persian with a non-joiner inside a word', 'می‌خواهم'],
		['an emoji sequence with joiners', 'family 👨‍👩‍👧 key'],
		['a flag with a joiner', 'pride 🏳️‍🌈'],
		['Devanagari with a joiner', 'क्‍ष'],
		['plain ASCII', 'Work laptop (2026)']
	])('accepts %s in a one-line name', (_name, value) => {
		expect(parseInput(label, { label: value }).label).toBe(value);
	});

	it('makes a one-line name from prose without the characters names refuse', () => {
		expect(toOneLineName('shalom \u202Eolleh\u202C and zero\u200Bwidth')).toBe('shalom olleh and zerowidth');
		expect(toOneLineName('tab\there\u0007bell')).toBe('tab here bell');
		expect(toOneLineName('می‌خواهم 👨‍👩‍👧')).toBe('می‌خواهم 👨‍👩‍👧');
	});
});
