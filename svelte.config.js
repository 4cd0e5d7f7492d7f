import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter({ out: 'build' }),
		// SvelteKit's own origin check covers form posts; src/lib/server/http/csrf.ts extends it
		// to JSON (tRPC, /api/chat) so every state-changing request is checked in one place.
		csrf: { trustedOrigins: [] },
		// Strict CSP: scripts only from this origin (SvelteKit hashes its own inline bootstrap),
		// no plugins, no framing, form posts only to this origin. Styles allow inline because
		// Svelte sets style attributes for transitions.
		csp: {
			mode: 'hash',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:', 'blob:'],
				'font-src': ['self'],
				'connect-src': ['self'],
				'object-src': ['none'],
				'base-uri': ['none'],
				'frame-ancestors': ['none'],
				'form-action': ['self']
			}
		}
	}
};

export default config;
