import { describe, expect, it } from 'vitest';
import { AppError } from '$lib/server/errors';
import { providerOfKeyShape } from '$lib/providers';
import { normalizeProviderKey } from '$lib/server/keys';

const GOOD = {
	openai: 'sk-proj-Abc123_def-456ghiJKLmnoPQRstuVWXyz0123456789',
	anthropic: 'sk-ant-api03-Abc123_def-456ghiJKLmnoPQRstuVWXyz0123456789',
	google: 'AIzaSyA1234567890abcdefghijklmnopqrstu',
	openrouter: 'sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
} as const;

function refusal(run: () => unknown): AppError {
	try {
		run();
	} catch (error) {
		if (error instanceof AppError) return error;
		throw error;
	}
	throw new Error('expected the key to be refused');
}

describe('provider key formats', () => {
	it.each(Object.entries(GOOD))('accepts a real-looking %s key and trims whitespace around it', (provider, key) => {
		const p = provider as keyof typeof GOOD;
		expect(normalizeProviderKey(p, `  ${key}\n`)).toBe(key);
		expect(providerOfKeyShape(key)).toBe(p);
	});

	it('says which provider a key belongs to when it is pasted under the wrong one', () => {
		const error = refusal(() => normalizeProviderKey('openai', GOOD.anthropic));
		expect(error.status).toBe(400);
		expect(error.reason).toBe('wrong_provider_key');
		expect(error.message).toMatch(/looks like an Anthropic key, not an OpenAI key/);
		expect(refusal(() => normalizeProviderKey('google', GOOD.openrouter)).message).toMatch(/an OpenRouter key/);
		expect(refusal(() => normalizeProviderKey('anthropic', GOOD.google)).message).toMatch(/a Google Gemini key/);
	});

	it.each([
		['a 10 kB key', 'sk-' + 'a'.repeat(10_000), /10003 characters, too long/],
		['a line break inside', 'sk-proj-abcdefghij\nklmnopqrstuvwxyz', /control characters/],
		['a NUL byte', 'sk-proj-abcdefghij\u0000klmnopqrstuvwxyz', /control characters/],
		['a zero-width space', 'sk-proj-abcdefghij\u200bklmnopqrstuvwxyz', /control characters/],
		['a space inside', 'sk-proj-abcdefghij klmnopqrstuvwxyz', /contains spaces/],
		['other characters', 'sk-proj-abcdefghij$klmnopqrstuvwxyz', /characters API keys do not have/],
		['no prefix', 'proj-abcdefghijklmnopqrstuvwxyz', /not an OpenAI API key/],
		['a truncated key', 'sk-proj-abc', /only 11 characters, too short/],
		['nothing but spaces', '   ', /Paste your OpenAI API key/]
	])('refuses %s with a message naming the expected shape and not the key', (_what, key, message) => {
		const error = refusal(() => normalizeProviderKey('openai', key));
		expect(error.status).toBe(400);
		expect(error.message).toMatch(message);
		expect(error.message).toMatch(/OpenAI keys start with sk- and are 20 to 300 characters/);
		const visible = key.trim();
		if (visible.length >= 8) expect(error.message).not.toContain(visible.slice(3, 11));
	});
});
