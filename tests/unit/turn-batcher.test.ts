import { describe, expect, it } from 'vitest';
import { TurnBatcher } from '$lib/server/http/batch';

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TurnBatcher', () => {
	it('takes what arrives in the same turn together, and what comes later on its own', async () => {
		async function* events() {
			yield 'a';
			yield 'b';
			yield 'c';
			await later(5);
			yield 'd';
			await later(5);
		}
		const batcher = new TurnBatcher(events());
		expect(await batcher.next()).toEqual({ values: ['a', 'b', 'c'], done: false });
		expect(await batcher.next()).toEqual({ values: ['d'], done: false });
		expect(await batcher.next()).toEqual({ values: [], done: true });
	});

	it('ends with the last batch when the events end in the same turn', async () => {
		async function* events() {
			yield 1;
			yield 2;
		}
		expect(await new TurnBatcher(events()).next()).toEqual({ values: [1, 2], done: true });
	});

	it('passes on an error thrown after the batch was cut', async () => {
		async function* events() {
			yield 'x';
			await later(5);
			throw new Error('upstream broke');
		}
		const batcher = new TurnBatcher(events());
		expect(await batcher.next()).toEqual({ values: ['x'], done: false });
		await expect(batcher.next()).rejects.toThrow('upstream broke');
	});
});

describe('TurnBatcher, an error while no one waits', () => {
	it('keeps a rejection that comes between two reads for the next read, without an unhandled rejection', async () => {
		const unhandled: unknown[] = [];
		const onUnhandled = (reason: unknown) => unhandled.push(reason);
		process.on('unhandledRejection', onUnhandled);
		try {
			async function* events() {
				yield 'x';
				await later(1);
				throw new Error('upstream broke');
			}
			const batcher = new TurnBatcher(events());
			expect(await batcher.next()).toEqual({ values: ['x'], done: false });
			// The reader is slow: the error happens while nobody awaits the pending read.
			await later(20);
			expect(unhandled).toEqual([]);
			await expect(batcher.next()).rejects.toThrow('upstream broke');
		} finally {
			process.off('unhandledRejection', onUnhandled);
		}
	});
});
