/**
 * Streams to a client are written once per event-loop turn, not once per event: an upstream that
 * sends many chunks in one TCP read (a fast model, a burst after a pause) costs one socket write
 * instead of one per token. The first event of each batch still goes out at once.
 */

const TURN = Symbol('turn');
const nextTurn = () => new Promise<typeof TURN>((resolve) => setImmediate(resolve, TURN));

export interface Batch<T> {
	values: T[];
	/** The iterator ended (after `values`). */
	done: boolean;
}

export class TurnBatcher<T> {
	private pending: Promise<IteratorResult<T>> | undefined;

	constructor(private readonly iterator: AsyncIterator<T>) {}

	/** Waits for the next event, then takes every further one that arrives within the same turn. */
	async next(): Promise<Batch<T>> {
		const first = await (this.pending ?? this.iterator.next());
		this.pending = undefined;
		if (first.done) return { values: [], done: true };
		const values = [first.value];
		const turn = nextTurn();
		for (;;) {
			const next = this.iterator.next();
			const raced = await Promise.race([next, turn]);
			if (raced === TURN) {
				// Awaited by the next call; until then a rejection must not count as unhandled.
				next.catch(() => {});
				this.pending = next;
				return { values, done: false };
			}
			if (raced.done) return { values, done: true };
			values.push(raced.value);
		}
	}
}
