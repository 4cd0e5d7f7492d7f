import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { plainRequestId } from '$lib/server/http/log';
import { createLogger, redactSecrets } from '$lib/server/log';

function capture() {
	const lines: string[] = [];
	const destination = new Writable({
		write(chunk, _e, callback) {
			lines.push(String(chunk));
			callback();
		}
	});
	return { lines, log: createLogger({ level: 'debug', destination }) };
}

describe('logging', () => {
	const keys = [
		'sk-proj-abcdefghijklmnopqrstuvwxyz012345',
		'sk-ant-api03-abcdefghijklmnopqrstuvwxyz',
		'AIzaSyA1234567890abcdefghijklmnopqrstu',
		'sk-or-v1-0123456789abcdef0123456789abcdef',
		'lk_0123456789abcdefghijklmnop'
	];

	it('scrubs provider keys and tokens from messages, fields and errors', () => {
		const { lines, log } = capture();
		for (const key of keys) {
			log.info(`calling provider with ${key}`);
			log.info({ apiKey: key, nested: { token: key }, headers: { authorization: `Bearer ${key}` } }, 'fields');
			log.error({ err: new Error(`401 Incorrect API key provided: ${key}`) }, 'sdk error');
		}
		const text = lines.join('');
		for (const key of keys) expect(text).not.toContain(key.slice(8, 16));
		expect(text).toContain('[redacted]');
	});

	it('redactSecrets leaves ordinary text alone', () => {
		expect(redactSecrets('model gpt-4o-mini answered in 120 ms')).toBe('model gpt-4o-mini answered in 120 ms');
	});

	it("scrubs a child logger's fields, which are written on every line", () => {
		const { lines, log } = capture();
		for (const key of keys) {
			log.child({ clientRequestId: key, nested: { url: `https://x.test/?key=${key}` } }).info('bound');
			log.child({ requestId: 'req-1' }).child({ clientRequestId: key }).info('grandchild');
		}
		const text = lines.join('');
		for (const key of keys) expect(text).not.toContain(key.slice(8, 16));
		expect(text).toContain('"clientRequestId":"[redacted]"');
		expect(JSON.parse(lines.at(-1)!)).toMatchObject({ requestId: 'req-1', msg: 'grandchild' });
	});

	it('keeps only a short, plain client request id that is not shaped like a key or token', () => {
		for (const id of ['abc', 'lb-probe:42', '7f9c2ba4-e88f-4d5e-9a1c-3b2f0e6d7c51', 'trace.01HZX3K9V7'])
			expect(plainRequestId(id)).toBe(id);
		for (const id of [...keys, 'x'.repeat(65), 'has space', 'new\nline', '', null, 'Bearer-lk_0123456789abcdef'])
			expect(plainRequestId(id)).toBeUndefined();
	});
});
