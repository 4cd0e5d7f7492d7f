import { PROVIDER_NAMES } from '$lib/providers';
import type { Provider } from '$lib/server/config';

/** What the API keys page says once a key is switched on or off. */
export function keySwitchedNotice(key: { provider: Provider; last4: string; isActive: boolean }): string {
	const name = PROVIDER_NAMES[key.provider];
	return key.isActive
		? `Your ${name} key (…${key.last4}) is switched on again.`
		: `Your ${name} key (…${key.last4}) is switched off. ${name} models use the app's key while it is off, if you allow that below.`;
}

/** What the API keys page says once its "fall back to the app's key" switch changed. */
export function fallbackNotice({ provider, allowFallback }: { provider: Provider; allowFallback: boolean }): string {
	const name = PROVIDER_NAMES[provider];
	return allowFallback
		? `The app's key now answers ${name} models when your own key cannot.`
		: `The app's key no longer answers ${name} models: without a working key of your own they are unavailable.`;
}
