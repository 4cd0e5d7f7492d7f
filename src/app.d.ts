import type { Services } from '$lib/server/services';
import type { SessionUser } from '$lib/server/trpc';
import type { Logger } from '$lib/server/log';

declare global {
	namespace App {
		interface Locals {
			services: Services;
			user: SessionUser | null;
			session: { id: string; expiresAt: Date } | null;
			requestId: string;
			clientIp: string;
			/** The request's logger: every line carries `requestId` (http/log.ts). */
			log: Logger;
			/** Set when PostgreSQL could not be reached during this request (answered 503). */
			databaseUnavailable?: boolean;
		}
		interface Error {
			message: string;
			requestId?: string;
			/** `unavailable`: the database could not be reached (a 503 page). */
			code?: string;
		}
		// interface PageData {}
		// interface PageState {}
		interface Platform {
			/** adapter-node's incoming request (absent under `vite dev`). */
			req?: import('node:http').IncomingMessage;
		}
	}
}

export {};
