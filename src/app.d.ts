import type { Services } from '$lib/server/services';
import type { SessionUser } from '$lib/server/trpc';

declare global {
	namespace App {
		interface Locals {
			services: Services;
			user: SessionUser | null;
			session: { id: string; expiresAt: Date } | null;
			requestId: string;
			clientIp: string;
		}
		interface Error {
			message: string;
			requestId?: string;
		}
		// interface PageData {}
		// interface PageState {}
		// interface Platform {}
	}
}

export {};
