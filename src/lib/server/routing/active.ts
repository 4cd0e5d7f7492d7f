/**
 * The chat requests in flight in this process, from the start of routing until their usage is
 * recorded. Graceful shutdown uses it: after the drain bound it stops what is still streaming
 * (`stopAll`), so routing settles those requests and records their usage, then waits until every
 * request has finished its bookkeeping (`whenIdle`) before the database is closed.
 */
export class ActiveChats {
	private readonly running = new Map<string, AbortController>();
	private readonly idleWaiters = new Set<() => void>();
	private stopping = false;

	get size(): number {
		return this.running.size;
	}

	/** True once `stopAll` ran: new requests are refused from then on. */
	get isStopping(): boolean {
		return this.stopping;
	}

	/**
	 * Registers one request; its signal aborts when the server stops it. `end()` must be called
	 * once its usage is recorded (calling it twice is harmless).
	 */
	begin(requestId: string): { signal: AbortSignal; end(): void } {
		const controller = new AbortController();
		if (this.stopping) controller.abort(SERVER_SHUTDOWN);
		// Request ids are unique per request; a caller reusing one still gets its own entry.
		const key = this.running.has(requestId) ? `${requestId}#${this.running.size}` : requestId;
		this.running.set(key, controller);
		let ended = false;
		return {
			signal: controller.signal,
			end: () => {
				if (ended) return;
				ended = true;
				this.running.delete(key);
				if (this.running.size === 0) for (const wake of [...this.idleWaiters]) wake();
			}
		};
	}

	/** Stops every request in flight (and every one that starts later) with reason `SERVER_SHUTDOWN`. */
	stopAll(): number {
		this.stopping = true;
		for (const controller of this.running.values()) controller.abort(SERVER_SHUTDOWN);
		return this.running.size;
	}

	/** Resolves true when nothing is in flight, or false when `timeoutMs` passes first. */
	whenIdle(timeoutMs: number): Promise<boolean> {
		if (this.running.size === 0) return Promise.resolve(true);
		return new Promise((resolve) => {
			const done = (idle: boolean) => {
				clearTimeout(timer);
				this.idleWaiters.delete(wake);
				resolve(idle);
			};
			const wake = () => done(true);
			const timer = setTimeout(() => done(false), timeoutMs);
			timer.unref();
			this.idleWaiters.add(wake);
		});
	}
}

/** The abort reason of requests stopped because the server is shutting down. */
export const SERVER_SHUTDOWN = 'server_shutdown';
