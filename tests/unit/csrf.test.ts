import { describe, expect, it } from 'vitest';
import { isCrossSiteRequest } from '$lib/server/http/csrf';

const url = new URL('https://chat.example.com/api/trpc/keys.upsert');
const post = (headers: Record<string, string>, path = url) =>
	[new Request(path, { method: 'POST', headers }), path] as const;

describe('isCrossSiteRequest', () => {
	it('refuses a state-changing request from another origin', () => {
		expect(isCrossSiteRequest(...post({ origin: 'https://evil.example' }))).toBe(true);
		expect(isCrossSiteRequest(...post({ 'sec-fetch-site': 'cross-site' }))).toBe(true);
	});

	it('accepts same-origin requests and non-browser clients without Origin', () => {
		expect(isCrossSiteRequest(...post({ origin: 'https://chat.example.com' }))).toBe(false);
		expect(isCrossSiteRequest(...post({}))).toBe(false);
	});

	it('leaves reads and the token-authenticated OpenAI API alone', () => {
		const api = new URL('https://chat.example.com/api/v1/chat/completions');
		expect(isCrossSiteRequest(...post({ origin: 'https://tool.example' }, api))).toBe(false);
		expect(isCrossSiteRequest(new Request(url, { headers: { origin: 'https://evil.example' } }), url)).toBe(false);
	});
});
