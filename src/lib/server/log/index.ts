import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Anything shaped like a provider key or a Latchkey token, wherever it appears in a log line
 * (messages, SDK errors, URLs), is replaced before the line is written.
 */
const SECRET_PATTERNS: RegExp[] = [
	/sk-ant-[A-Za-z0-9_-]{8,}/g,
	/sk-or-[A-Za-z0-9_-]{8,}/g,
	/sk-[A-Za-z0-9_-]{8,}/g,
	/AIza[0-9A-Za-z_-]{8,}/g,
	/lk_[A-Za-z0-9_-]{8,}/g,
	/Bearer\s+[A-Za-z0-9._~+/=-]{8,}/gi
];

export function redactSecrets(text: string): string {
	let out = text;
	for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]');
	return out;
}

const REDACT_PATHS = [
	'apiKey',
	'*.apiKey',
	'key',
	'*.key',
	'password',
	'*.password',
	'token',
	'*.token',
	'authorization',
	'*.authorization',
	'headers.authorization',
	'req.headers.authorization',
	'req.headers.cookie',
	'req.headers["x-api-key"]',
	'req.headers["x-goog-api-key"]',
	'cookie',
	'*.cookie'
];

export interface LoggerOptions {
	level: string;
	destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
	return pino(
		{
			level: options.level,
			base: { app: 'latchkey' },
			redact: { paths: REDACT_PATHS, censor: '[redacted]' },
			timestamp: pino.stdTimeFunctions.isoTime,
			formatters: { level: (label) => ({ level: label }) },
			hooks: {
				// The last line of defence: scrub every string argument (messages, error texts).
				logMethod(args, method) {
					const scrubbed = args.map((arg) =>
						typeof arg === 'string' ? redactSecrets(arg) : arg instanceof Error ? scrubError(arg) : arg
					);
					method.apply(this, scrubbed as Parameters<typeof method>);
				}
			},
			serializers: { err: (err: Error) => pino.stdSerializers.err(scrubError(err)) }
		},
		options.destination
	);
}

function scrubError(error: Error): Error {
	const copy = new Error(redactSecrets(error.message));
	copy.name = error.name;
	copy.stack = error.stack ? redactSecrets(error.stack) : undefined;
	return copy;
}
