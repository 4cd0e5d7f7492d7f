import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '$lib/server/config';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');

function problemsOf(env: Record<string, string>): string[] {
	try {
		loadConfig(env);
	} catch (error) {
		if (error instanceof ConfigError) return error.problems;
		throw error;
	}
	throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
	it('runs embedded with sensible defaults when nothing is set', () => {
		const config = loadConfig({});
		expect(config.database.url).toBeUndefined();
		expect(config.database.dataDir).toBe('./data');
		expect(config.server.port).toBe(3000);
		expect(config.baseUrls.openai).toBe('https://api.openai.com/v1');
		expect(config.baseUrls.openrouter).toBe('https://openrouter.ai/api/v1');
		expect(config.limitDefaults.requestsPerHour).toBe(100);
		expect(config.limitDefaults.appDailyCapMicros).toBe(500_000);
		expect(config.signInThrottle).toEqual({
			maxFailuresPerEmailAndIp: 5,
			maxFailuresPerEmail: 20,
			maxFailuresPerIp: 20,
			windowSeconds: 900
		});
	});

	it('parses master keys and base URLs', () => {
		const config = loadConfig({
			MASTER_KEYS: `new:${key(1)}, old:${key(2)}`,
			OPENAI_BASE_URL: 'http://127.0.0.1:4010/openai/v1/',
			DEFAULT_APP_DAILY_CAP_USD: '1.25'
		});
		expect(config.masterKeys?.map((k) => k.id)).toEqual(['new', 'old']);
		expect(config.masterKeys?.[0]?.key).toHaveLength(32);
		expect(config.baseUrls.openai).toBe('http://127.0.0.1:4010/openai/v1');
		expect(config.limitDefaults.appDailyCapMicros).toBe(1_250_000);
	});

	it('names every wrong variable and what it expects', () => {
		const problems = problemsOf({
			PORT: 'eighty',
			OPENAI_BASE_URL: 'not a url',
			MASTER_KEYS: 'k1:dG9vIHNob3J0',
			DATABASE_URL: 'mysql://x'
		});
		const text = problems.join('\n');
		expect(text).toMatch(/^PORT: expected a whole number/m);
		expect(text).toMatch(/^OPENAI_BASE_URL: expected an http\(s\) URL/m);
		expect(text).toMatch(/^MASTER_KEYS: key "k1" must be 32 random bytes in base64/m);
		expect(text).toMatch(/^DATABASE_URL: expected a postgres:\/\//m);
	});

	it('no longer reads ADMIN_EMAILS, and warns an operator who still sets it', () => {
		expect(loadConfig({}).warnings).toEqual([]);
		const config = loadConfig({ ADMIN_EMAILS: 'boss@example.com' });
		expect(config).not.toHaveProperty('adminEmails');
		expect(config.warnings).toEqual([
			expect.stringMatching(/^ADMIN_EMAILS is no longer read.*npm run admin -- grant EMAIL/)
		]);
	});

	it('refuses a PostgreSQL deployment without a master key', () => {
		expect(problemsOf({ DATABASE_URL: 'postgres://db/latchkey' })).toEqual([
			expect.stringMatching(/^MASTER_KEYS: required when DATABASE_URL is set/)
		]);
	});

	it('refuses duplicate master key ids and money with more than micro-dollar precision', () => {
		expect(problemsOf({ MASTER_KEYS: `a:${key(1)},a:${key(2)}` }).join()).toMatch(/unique/);
		expect(problemsOf({ DEFAULT_DAILY_CAP_USD: '0.0000001' }).join()).toMatch(
			/^DEFAULT_DAILY_CAP_USD: expected an amount/
		);
	});

	it('never echoes a secret value in its messages', () => {
		const secret = 'sk-should-not-appear-anywhere-1234567890';
		const problems = problemsOf({ MASTER_KEYS: `x:${secret}`, METRICS_TOKEN: 'short' });
		expect(problems.join('\n')).not.toContain(secret);
	});
});
