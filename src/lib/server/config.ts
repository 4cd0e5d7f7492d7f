import { z } from 'zod';
import { usdToMicros } from '$lib/money';
import { PROVIDER_IDS, type ProviderId } from '$lib/providers';

/**
 * Every environment variable Latchkey reads, parsed once into one typed object.
 * A wrong value stops start-up with a message naming the variable and what it expects
 * (see `ConfigError`). Nothing else in the server reads `process.env`.
 */

const optionalString = z
	.string()
	.transform((value) => value.trim())
	.transform((value) => (value === '' ? undefined : value))
	.optional();

function httpUrl(what: string) {
	return z
		.string()
		.trim()
		.url({ message: `expected an http(s) URL such as ${what}` })
		.refine((value) => /^https?:\/\//.test(value), { message: `expected an http(s) URL such as ${what}` })
		.transform((value) => value.replace(/\/+$/, ''));
}

function wholeNumber(what: string, min: number, max: number) {
	return z
		.string()
		.trim()
		.regex(/^\d+$/, { message: `expected a whole number (${what})` })
		.transform(Number)
		.refine((n) => n >= min && n <= max, { message: `expected a whole number from ${min} to ${max} (${what})` });
}

/** USD amounts from the environment become integer micro-dollars; money is never a float here. */
function usdAsMicros(what: string) {
	const message = `expected an amount in US dollars such as 0.50 (${what})`;
	return z
		.string()
		.trim()
		.regex(/^\d+(\.\d{1,6})?$/, { message })
		.transform((value, ctx) => {
			const micros = usdToMicros(value);
			if (micros !== undefined) return micros;
			ctx.addIssue({ code: z.ZodIssueCode.custom, message });
			return z.NEVER;
		});
}

/** `id:base64` entries, comma separated; ids are short names, keys exactly 32 bytes. */
const masterKeyEntry = z.string().transform((entry, ctx) => {
	const separator = entry.indexOf(':');
	const id = entry.slice(0, separator).trim();
	const base64 = entry.slice(separator + 1).trim();
	if (separator < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
		ctx.addIssue({
			code: z.ZodIssueCode.custom,
			message: 'expected entries shaped id:base64 (id of letters, digits, - or _)'
		});
		return z.NEVER;
	}
	if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || Buffer.from(base64, 'base64').length !== 32) {
		ctx.addIssue({
			code: z.ZodIssueCode.custom,
			message: `key "${id}" must be 32 random bytes in base64 (openssl rand -base64 32)`
		});
		return z.NEVER;
	}
	return { id, key: new Uint8Array(Buffer.from(base64, 'base64')) };
});

const masterKeys = z
	.string()
	.transform((value) =>
		value
			.split(',')
			.map((part) => part.trim())
			.filter(Boolean)
	)
	.pipe(z.array(masterKeyEntry).min(1, { message: 'expected at least one id:base64 entry' }))
	.refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, {
		message: 'master key ids must be unique'
	});

const envSchema = z.object({
	NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
	DATABASE_URL: optionalString.pipe(
		z
			.string()
			.regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// or postgresql:// connection URL' })
			.optional()
	),
	DATABASE_POOL_SIZE: wholeNumber('connections per instance', 1, 200).default('10'),
	DATA_DIR: z.string().trim().min(1).default('./data'),
	MASTER_KEYS: optionalString.pipe(masterKeys.optional()),
	OPENROUTER_API_KEY: optionalString,
	OPENAI_BASE_URL: httpUrl('https://api.openai.com/v1').default('https://api.openai.com/v1'),
	ANTHROPIC_BASE_URL: httpUrl('https://api.anthropic.com').default('https://api.anthropic.com'),
	GOOGLE_BASE_URL: httpUrl('https://generativelanguage.googleapis.com').default(
		'https://generativelanguage.googleapis.com'
	),
	OPENROUTER_BASE_URL: httpUrl('https://openrouter.ai/api/v1').default('https://openrouter.ai/api/v1'),
	PORT: wholeNumber('TCP port', 0, 65535).default('3000'),
	HOST: z.string().trim().min(1).default('0.0.0.0'),
	ORIGIN: optionalString.pipe(httpUrl('https://chat.example.com').optional()),
	METRICS_TOKEN: optionalString.pipe(z.string().min(16, { message: 'expected at least 16 characters' }).optional()),
	LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
	PROVIDER_TIMEOUT_MS: wholeNumber('milliseconds', 1000, 600_000).default('60000'),
	/** adapter-node's own variable (it closes every connection after it); streams get this long to finish. */
	SHUTDOWN_TIMEOUT: wholeNumber('seconds', 0, 3600).default('10'),
	/** Default per-provider limits; users may lower theirs, admins set any. */
	DEFAULT_REQUESTS_PER_HOUR: wholeNumber('requests', 0, 1_000_000).default('100'),
	DEFAULT_TOKENS_PER_HOUR: wholeNumber('tokens', 0, 1_000_000_000).default('200000'),
	DEFAULT_DAILY_CAP_USD: usdAsMicros('own-key daily cap').default('5.00'),
	DEFAULT_APP_DAILY_CAP_USD: usdAsMicros('app-key daily cap').default('0.50'),
	/** One budget per UTC day for the app's key across all users; unset: none. */
	APP_DAILY_BUDGET_USD: optionalString.pipe(usdAsMicros('app key budget per day').optional()),
	/** Sign-in throttling (auth/throttle.ts): per address, per email from one address, per email. */
	SIGNIN_MAX_FAILURES_PER_EMAIL_AND_IP: wholeNumber('failures per window', 1, 1000).default('5'),
	SIGNIN_MAX_FAILURES_PER_EMAIL: wholeNumber('failures per window', 1, 100_000).default('20'),
	SIGNIN_MAX_FAILURES_PER_IP: wholeNumber('failures per window', 1, 100_000).default('20'),
	SIGNIN_WINDOW_SECONDS: wholeNumber('seconds', 1, 86_400).default('900'),
	/** Who may create an account: anyone, holders of an admin's invite code, or nobody. */
	SIGNUP_MODE: z
		.enum(['open', 'invite', 'closed'], {
			errorMap: () => ({ message: 'expected open, invite or closed' })
		})
		.default('open'),
	SIGNUP_MAX_PER_IP_PER_HOUR: wholeNumber('sign-ups per address per hour', 1, 1_000_000).default('10'),
	/** Alerts by e-mail (alerts/mail.ts): smtp://user:pass@host:port or smtps://…; unset: no e-mail channel. */
	SMTP_URL: optionalString.pipe(
		z
			.string()
			.regex(/^smtps?:\/\/[^/\s]+/, {
				message: 'expected an smtp:// or smtps:// URL such as smtp://user:pass@host:587'
			})
			.optional()
	),
	MAIL_FROM: optionalString.pipe(z.string().max(320).optional()),
	/** The admins' webhook: every notification of every user is also POSTed here, signed with the secret. */
	ADMIN_WEBHOOK_URL: optionalString.pipe(httpUrl('https://hooks.example.com/latchkey').optional()),
	ADMIN_WEBHOOK_SECRET: optionalString.pipe(
		z.string().min(16, { message: 'expected at least 16 characters' }).optional()
	)
});

export type Provider = ProviderId;
export const providers: readonly Provider[] = PROVIDER_IDS;

export interface MasterKey {
	id: string;
	key: Uint8Array;
}

export interface Config {
	env: 'development' | 'production' | 'test';
	database: { url: string | undefined; poolSize: number; dataDir: string };
	masterKeys: MasterKey[] | undefined;
	appOpenRouterKey: string | undefined;
	baseUrls: Record<Provider, string>;
	/** Things the operator should know at start-up that do not stop it (logged once). */
	warnings: string[];
	server: { port: number; host: string; origin: string | undefined };
	metricsToken: string | undefined;
	logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
	providerTimeoutMs: number;
	/** Graceful shutdown: how long open streams may run on after SIGTERM (adapter-node's SHUTDOWN_TIMEOUT). */
	shutdownTimeoutSeconds: number;
	limitDefaults: {
		requestsPerHour: number;
		tokensPerHour: number;
		dailyCapMicros: number;
		appDailyCapMicros: number;
		/** The app key's budget per UTC day across all users; null: none. */
		appDailyBudgetMicros: number | null;
	};
	signInThrottle: SignInThrottle;
	signUp: { mode: 'open' | 'invite' | 'closed'; maxPerIpPerHour: number };
	alerts: AlertsConfig;
}

export interface AlertsConfig {
	/** Undefined: the e-mail channel is off (users cannot opt in). */
	smtp: { url: string; from: string } | undefined;
	/** Undefined: no admins' webhook. */
	adminWebhook: { url: string; secret: string } | undefined;
}

export interface SignInThrottle {
	/** Failures one address may make for one email in a window. */
	maxFailuresPerEmailAndIp: number;
	/** Failures for one email from every address; past it each address gets fewer tries, none is shut out. */
	maxFailuresPerEmail: number;
	/** Failures one address may make for any emails. */
	maxFailuresPerIp: number;
	windowSeconds: number;
}

export class ConfigError extends Error {
	constructor(readonly problems: string[]) {
		super(`Latchkey cannot start, the environment has problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
		this.name = 'ConfigError';
	}
}

/** Variables that once meant something: ignored, but an operator still setting one is told why. */
const RETIRED_VARIABLES: Record<string, string> = {
	ADMIN_EMAILS:
		'ADMIN_EMAILS is no longer read: signing up with a listed address made anyone an admin. Grant admin rights with `npm run admin -- grant EMAIL` (docs/operations.md); existing admins keep theirs.'
};

function retiredVariableWarnings(env: Record<string, string | undefined>): string[] {
	return Object.entries(RETIRED_VARIABLES).flatMap(([name, warning]) => (env[name]?.trim() ? [warning] : []));
}

/** Parses the environment; throws `ConfigError` naming every wrong variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
	const parsed = envSchema.safeParse(env);
	if (!parsed.success) {
		const problems = parsed.error.issues.map((issue) => {
			const variable = String(issue.path[0] ?? 'environment');
			return `${variable}: ${issue.message}`;
		});
		throw new ConfigError(problems);
	}
	const e = parsed.data;
	if (e.DATABASE_URL && !e.MASTER_KEYS) {
		throw new ConfigError([
			'MASTER_KEYS: required when DATABASE_URL is set (a list of id:base64 32-byte keys; generate one with `openssl rand -base64 32`)'
		]);
	}
	const problems = alertProblems(e);
	if (problems.length > 0) throw new ConfigError(problems);
	return {
		env: e.NODE_ENV,
		database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, dataDir: e.DATA_DIR },
		masterKeys: e.MASTER_KEYS,
		appOpenRouterKey: e.OPENROUTER_API_KEY,
		baseUrls: {
			openai: e.OPENAI_BASE_URL,
			anthropic: e.ANTHROPIC_BASE_URL,
			google: e.GOOGLE_BASE_URL,
			openrouter: e.OPENROUTER_BASE_URL
		},
		warnings: retiredVariableWarnings(env),
		server: { port: e.PORT, host: e.HOST, origin: e.ORIGIN },
		metricsToken: e.METRICS_TOKEN,
		logLevel: e.LOG_LEVEL,
		providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
		shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT,
		limitDefaults: {
			requestsPerHour: e.DEFAULT_REQUESTS_PER_HOUR,
			tokensPerHour: e.DEFAULT_TOKENS_PER_HOUR,
			dailyCapMicros: e.DEFAULT_DAILY_CAP_USD,
			appDailyCapMicros: e.DEFAULT_APP_DAILY_CAP_USD,
			appDailyBudgetMicros: e.APP_DAILY_BUDGET_USD ?? null
		},
		signInThrottle: {
			maxFailuresPerEmailAndIp: e.SIGNIN_MAX_FAILURES_PER_EMAIL_AND_IP,
			maxFailuresPerEmail: e.SIGNIN_MAX_FAILURES_PER_EMAIL,
			maxFailuresPerIp: e.SIGNIN_MAX_FAILURES_PER_IP,
			windowSeconds: e.SIGNIN_WINDOW_SECONDS
		},
		signUp: { mode: e.SIGNUP_MODE, maxPerIpPerHour: e.SIGNUP_MAX_PER_IP_PER_HOUR },
		alerts: {
			smtp: e.SMTP_URL && e.MAIL_FROM ? { url: e.SMTP_URL, from: e.MAIL_FROM } : undefined,
			adminWebhook:
				e.ADMIN_WEBHOOK_URL && e.ADMIN_WEBHOOK_SECRET
					? { url: e.ADMIN_WEBHOOK_URL, secret: e.ADMIN_WEBHOOK_SECRET }
					: undefined
		}
	};
}

/** Variables that only work in pairs: one without the other is a mistake worth stopping for. */
function alertProblems(e: z.output<typeof envSchema>): string[] {
	const problems: string[] = [];
	if (e.SMTP_URL && !e.MAIL_FROM)
		problems.push('MAIL_FROM: required when SMTP_URL is set (e.g. Latchkey <alerts@example.com>)');
	if (e.ADMIN_WEBHOOK_URL && !e.ADMIN_WEBHOOK_SECRET)
		problems.push('ADMIN_WEBHOOK_SECRET: required when ADMIN_WEBHOOK_URL is set (openssl rand -hex 32)');
	return problems;
}
