import adapter from '@sveltejs/adapter-node';

/**
 * The SvelteKit floor for bench/overhead.ts (`kitN` rows): the same framework, adapter and SDK as
 * the app, with nothing of the app's own. Built by the bench into bench/out/ (never shipped).
 * @type {import('@sveltejs/kit').Config}
 */
export default {
	kit: {
		adapter: adapter({ out: '../out/kit-floor/build' }),
		outDir: '../out/kit-floor/.svelte-kit'
	}
};
