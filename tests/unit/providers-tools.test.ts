// Tool calls and images through each adapter and its real SDK, against the fakes: the events an
// adapter yields for a tool call, streamed and not, and an image reaching the provider.
import { describe, expect, it } from 'vitest';
import type { ChatMessage, ProviderEvent, ProviderId } from '$lib/server/providers';
import { callFor, drain, newKey, PROVIDERS, useFakeProviders } from './providers-support';

const fakes = useFakeProviders();

const ask: ChatMessage[] = [{ role: 'user', content: 'Weather in Paris?' }];
const tools = [{ name: 'get_weather', parameters: { type: 'object', properties: { query: { type: 'string' } } } }];

/** The tool calls of an answer, their pieces joined by index. */
function toolCallsOf(events: ProviderEvent[]) {
	const calls: { id?: string; name?: string; arguments: string }[] = [];
	for (const event of events) {
		if (event.type !== 'tool_call') continue;
		const call = (calls[event.index] ??= { arguments: '' });
		call.id ??= event.id;
		call.name ??= event.name;
		call.arguments += event.arguments;
	}
	return calls;
}

describe.each(PROVIDERS)('%s adapter', (provider: ProviderId) => {
	it.each([true, false])('yields a tool call, then finish tool_calls (stream: %s)', async (stream) => {
		const key = newKey(fakes.fake, provider);
		const { events, error } = await drain(
			fakes.fake,
			provider,
			callFor(provider, key, { stream, messages: ask, tools })
		);
		expect(error).toBeUndefined();
		const kinds = events.map((e) => e.type).join(',');
		expect(kinds).toMatch(/^(tool_call,)+(usage,)?finish$/);
		expect(toolCallsOf(events)).toEqual([
			{
				id: expect.stringMatching(/\S/),
				name: 'get_weather',
				arguments: JSON.stringify({ query: 'Weather in Paris?' })
			}
		]);
		expect(events.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
	});

	it('answers a tool result in text', async () => {
		const key = newKey(fakes.fake, provider);
		const messages: ChatMessage[] = [
			...ask,
			{
				role: 'assistant',
				content: '',
				toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"query":"x"}' }]
			},
			{ role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: 'Rain' }
		];
		const { text, events, error } = await drain(fakes.fake, provider, callFor(provider, key, { messages, tools }));
		expect(error).toBeUndefined();
		expect(text).toContain('tool result: Rain');
		expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
	});

	it('sends an image the provider can read', async () => {
		const key = newKey(fakes.fake, provider);
		const messages: ChatMessage[] = [
			{
				role: 'user',
				content: [
					{ type: 'text', text: 'See:' },
					{
						type: 'image',
						image: { kind: 'data', mediaType: 'image/gif', base64: Buffer.from('GIF89a').toString('base64') }
					}
				]
			}
		];
		const { text, error } = await drain(fakes.fake, provider, callFor(provider, key, { messages }));
		expect(error).toBeUndefined();
		expect(text).toContain('See:[image image/gif 6 bytes]');
	});
});
