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
	/Bearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
	/Basic\s+[A-Za-z0-9+/=]{8,}/gi
];

/**
 * Secrets recognised by where they sit rather than by their shape: a URL parameter (`?key=`,
 * Gemini's REST convention), a header written out in an SDK error (`x-api-key: …`), the session
 * cookie. The name is kept, the value replaced.
 */
const SECRET_VALUE_PATTERNS: RegExp[] = [
	/([?&](?:key|api[_-]?key|apikey|token|access_token|auth)=)[^&#\s"'<>]+/gi,
	/((?:x-api-key|x-goog-api-key|api-key|authorization)["']?\s*[:=]\s*["']?)[^\s"',;}]{4,}/gi,
	/((?:latchkey_session|auth_session)=)[^;\s"',}]+/gi
];

export function redactSecrets(text: string): string {
	let out = text;
	for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]');
	for (const pattern of SECRET_VALUE_PATTERNS) out = out.replace(pattern, '$1[redacted]');
	return out;
}

/** Whether the scrubber would redact anything in `text`. */
export function looksLikeSecret(text: string): boolean {
	return redactSecrets(text) !== text;
}

/** Field names whose values are secrets at any depth of a log object, whatever they look like. */
const SECRET_FIELD =
	/^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-goog-api-key|api[-_]?key|apikey|key|token|access[-_]?token|password|secret|session[-_]?id)$/i;
const MAX_SCRUB_DEPTH = 8;

/**
 * Scrubs every string inside a log object (field values of any depth, SDK errors nested under any
 * name), in addition to pino's fixed `redact` paths, so a key in a URL or a header copied into a
 * field is caught too.
 */
export function scrubLogObject(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
	if (typeof value === 'string') return redactSecrets(value);
	if (typeof value !== 'object' || value === null) return value;
	if (seen.has(value) || depth > MAX_SCRUB_DEPTH) return '[omitted]';
	seen.add(value);
	if (value instanceof Error) return pino.stdSerializers.err(scrubError(value));
	if (value instanceof Date) return value;
	if (value instanceof Uint8Array) return '[bytes]';
	if (Array.isArray(value)) return value.map((item) => scrubLogObject(item, depth + 1, seen));
	const out: Record<string, unknown> = {};
	for (const [name, field] of Object.entries(value)) {
		if (SECRET_FIELD.test(name) && field !== null && field !== undefined && typeof field !== 'number') {
			out[name] = '[redacted]';
		} else if (field instanceof Error && depth === 0 && name === 'err') {
			// `err` keeps its Error shape for pino's err serializer.
			out[name] = scrubError(field);
		} else {
			out[name] = scrubLogObject(field, depth + 1, seen);
		}
	}
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
	const logger = pino(
		{
			level: options.level,
			base: { app: 'latchkey' },
			redact: { paths: REDACT_PATHS, censor: '[redacted]' },
			timestamp: pino.stdTimeFunctions.isoTime,
			formatters: {
				level: (label) => ({ level: label }),
				log: (object) => scrubLogObject(object) as Record<string, unknown>
			},
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
	// A child's fields (`log.child({ clientRequestId })`) go on every line it writes, and pino's
	// formatters do not see them: they are scrubbed here. Children inherit this method, and `this`
	// is the logger it is called on, so grandchildren keep their parents' fields.
	const pinoChild = logger.child;
	logger.child = function <ChildLevels extends string = never>(
		this: Logger,
		bindings: pino.Bindings,
		childOptions?: pino.ChildLoggerOptions<ChildLevels>
	) {
		return pinoChild.call<Logger, [pino.Bindings, pino.ChildLoggerOptions<ChildLevels>?], pino.Logger<ChildLevels>>(
			this,
			scrubLogObject(bindings) as pino.Bindings,
			childOptions
		);
	};
	return logger;
}

function scrubError(error: Error): Error {
	const copy = new Error(redactSecrets(error.message));
	copy.name = error.name;
	copy.stack = error.stack ? redactSecrets(error.stack) : undefined;
	// Plain facts SDK and database errors carry (status, code, type) are kept; headers, bodies,
	// requests and anything else structured are left out.
	const fields = copy as unknown as Record<string, unknown>;
	for (const [name, field] of Object.entries(error)) {
		if (name === 'message' || name === 'stack' || name === 'name' || SECRET_FIELD.test(name)) continue;
		if (typeof field === 'string') fields[name] = redactSecrets(field).slice(0, 200);
		else if (typeof field === 'number' || typeof field === 'boolean') fields[name] = field;
	}
	if (error.cause instanceof Error) copy.cause = scrubError(error.cause);
	return copy;
}
