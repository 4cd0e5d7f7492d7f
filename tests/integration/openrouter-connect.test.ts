import { afterAll, beforeAll, expect, it } from 'vitest';
import { finishOpenRouterConnect, listKeys, startOpenRouterConnect } from '$lib/server/keys';
import type { Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createUser, fakeEnv } from './keys-fixtures';

const CALLBACK = 'http://app.example/keys/openrouter/callback';

/** "Connect OpenRouter": OpenRouter's OAuth PKCE flow against the fake, end to end but the browser. */
describeEachDatabase('connecting OpenRouter with OAuth PKCE', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await fake.close();
	});

	/** What the person does on OpenRouter's page: approve, and come back with the code. */
	async function approve(redirectUrl: string): Promise<string> {
		const page = await (await fetch(redirectUrl)).text();
		const back = new URL(/id="authorize" href="([^"]+)"/.exec(page)![1]!.replace(/&#38;/g, '&'));
		expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
		return back.searchParams.get('code')!;
	}

	it('sends the person to OpenRouter with a challenge, and stores the key it hands over for the code', async () => {
		const user = await createUser(services.db, 'connect');
		const { redirectUrl, verifier } = startOpenRouterConnect(services.config, CALLBACK);
		const sent = new URL(redirectUrl);
		expect(sent.pathname).toBe('/openrouter/auth');
		expect(sent.searchParams.get('code_challenge_method')).toBe('S256');
		expect(sent.searchParams.get('code_challenge')).not.toContain(verifier);

		const code = await approve(redirectUrl);
		const stored = await finishOpenRouterConnect(services, { userId: user.id, ip: null }, { code, verifier });
		expect(stored.key).toMatchObject({ provider: 'openrouter', status: 'valid', label: 'Connected with OpenRouter' });
		const keys = await listKeys(services.db, user.id);
		expect(keys.map((k) => [k.provider, k.status])).toEqual([['openrouter', 'valid']]);
		// 'valid': the key OpenRouter minted passed the same check as a pasted key.
	});

	it('refuses a code with the wrong verifier, a reused code, or no verifier, storing nothing', async () => {
		const user = await createUser(services.db, 'refused');
		const actor = { userId: user.id, ip: null };
		const first = startOpenRouterConnect(services.config, CALLBACK);
		const other = startOpenRouterConnect(services.config, CALLBACK);
		const code = await approve(first.redirectUrl);
		// Someone else's verifier (a code carried into another browser) cannot redeem it.
		await expect(finishOpenRouterConnect(services, actor, { code, verifier: other.verifier })).rejects.toMatchObject({
			reason: 'connect_refused'
		});
		// The code is spent even so.
		await expect(finishOpenRouterConnect(services, actor, { code, verifier: first.verifier })).rejects.toMatchObject({
			reason: 'connect_refused'
		});
		await expect(
			finishOpenRouterConnect(services, actor, { code: await approve(first.redirectUrl), verifier: undefined })
		).rejects.toMatchObject({ reason: 'connect_expired' });
		await expect(
			finishOpenRouterConnect(services, actor, { code: null, verifier: first.verifier })
		).rejects.toMatchObject({ reason: 'connect_denied' });
		expect(await listKeys(services.db, user.id)).toEqual([]);
	});
});
