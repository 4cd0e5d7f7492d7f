// The whole-suite leak scan, run by `npm test` after Vitest (scripts/test.js): every log and
// metrics text the app wrote during the tests (test-results/logs/) is searched for every secret
// the tests made (test-results/secrets/) and every 8-character piece of one, and for anything
// shaped like a whole provider key or access token. Exits 1 on a leak, and on a scan with nothing
// to scan where a project that writes logs ran.
//
// Repeat on the output of a run: npx tsx scripts/scan-test-output.ts
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LOGS_DIR, SECRETS_DIR } from '../tests/helpers/test-output';
import { PUBLIC_PREFIX, privatePieces } from '../tests/helpers/secret-pieces';

const PIECE = 8;
/** Characters test secrets are made of: pieces are looked up inside runs of these. */
const SECRET_RUN = /[A-Za-z0-9_-]{8,}/g;
const SECRET_CHAR = /^[A-Za-z0-9_-]+$/;
/** Whole secrets by shape: the logger redacts these, so one in a log is a leak even if unrecorded. */
const SHAPES: Array<{ name: string; pattern: RegExp }> = [
	{ name: 'access token', pattern: /lk_[A-Za-z0-9]{8}_[A-Za-z0-9]{43}/g },
	{ name: 'OpenAI key', pattern: /sk-proj-[A-Za-z0-9_-]{20,}/g },
	{ name: 'Anthropic key', pattern: /sk-ant-api03-[A-Za-z0-9_-]{20,}/g },
	{ name: 'OpenRouter key', pattern: /sk-or-v1-[A-Za-z0-9_-]{20,}/g },
	{ name: 'Google key', pattern: /AIza[0-9A-Za-z_-]{30,}/g }
];
const MAX_REPORTED = 25;

interface Finding {
	file: string;
	line: number;
	what: string;
}

function listFiles(dir: string, keep: (name: string) => boolean): string[] {
	if (!existsSync(dir)) return [];
	return readdirSync(dir)
		.filter(keep)
		.map((name) => join(dir, name))
		.sort();
}

function lineOf(text: string, index: number): number {
	let line = 1;
	for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
	return line;
}

/** Where a piece came from, for the report: the secret's public prefix and the piece. */
function describePiece(piece: string, owners: Map<string, string>): string {
	const secret = owners.get(piece) ?? '';
	const prefix = PUBLIC_PREFIX.exec(secret)?.[0] ?? '';
	return `piece "${piece}" of a ${prefix ? `${prefix}… secret` : 'secret'} (${secret.length} characters)`;
}

function scanText(
	text: string,
	file: string,
	pieces: Set<string>,
	oddPieces: string[],
	owners: Map<string, string>,
	findings: Finding[]
): void {
	for (const run of text.matchAll(SECRET_RUN)) {
		const value = run[0];
		for (let i = 0; i + PIECE <= value.length; i++) {
			const window = value.slice(i, i + PIECE);
			if (pieces.has(window)) {
				findings.push({ file, line: lineOf(text, run.index + i), what: describePiece(window, owners) });
				break;
			}
		}
	}
	for (const piece of oddPieces) {
		const index = text.indexOf(piece);
		if (index !== -1) findings.push({ file, line: lineOf(text, index), what: describePiece(piece, owners) });
	}
	for (const { name, pattern } of SHAPES) {
		for (const match of text.matchAll(pattern)) {
			findings.push({ file, line: lineOf(text, match.index), what: `a whole ${name} (${match[0].slice(0, 12)}…)` });
		}
	}
}

function main(): number {
	const started = Date.now();
	// `<length of the public part><tab><secret>` (tests/helpers/test-output.ts).
	const secrets = new Map<string, number>();
	for (const file of listFiles(SECRETS_DIR, (name) => name.endsWith('.txt'))) {
		for (const line of readFileSync(file, 'utf8').split('\n')) {
			const tab = line.indexOf('\t');
			if (tab > 0) secrets.set(line.slice(tab + 1), Number(line.slice(0, tab)));
		}
	}
	const owners = new Map<string, string>();
	for (const [secret, publicLength] of secrets) {
		for (const piece of privatePieces(secret, publicLength, PIECE)) owners.set(piece, secret);
	}
	const pieces = new Set<string>();
	const oddPieces: string[] = [];
	for (const piece of owners.keys()) {
		if (SECRET_CHAR.test(piece)) pieces.add(piece);
		else oddPieces.push(piece);
	}

	const ran = listFiles(LOGS_DIR, (name) => name.endsWith('.ran')).map((file) =>
		file.slice(file.lastIndexOf('/project-') + '/project-'.length, -'.ran'.length)
	);
	const logFiles = listFiles(LOGS_DIR, (name) => name.endsWith('.log'));
	const metricsFiles = listFiles(LOGS_DIR, (name) => name.endsWith('.metrics.txt'));
	const appLogs = logFiles.filter((file) => /\.app-\d+-\d+\.log$/.test(file));
	const serviceLogs = logFiles.filter((file) => /\.services-\d+-\d+\.log$/.test(file));

	// Refuse to pass by scanning nothing: a project that writes logs ran, so they must be here.
	const problems: string[] = [];
	if (ran.includes('e2e')) {
		if (appLogs.length === 0) problems.push('the e2e project ran but no app server log was written');
		if (metricsFiles.length === 0) problems.push('the e2e project ran but no metrics text was kept');
	}
	if (ran.includes('integration') && serviceLogs.length === 0) {
		problems.push('the integration project ran but no services log was written');
	}
	if ((ran.includes('e2e') || ran.includes('integration')) && secrets.size === 0) {
		problems.push('tests that write logs ran but no secret was recorded');
	}
	// The scan itself must find what it looks for.
	const probe: Finding[] = [];
	const [probePiece] = pieces;
	if (probePiece) scanText(`x ${probePiece} y`, 'probe', pieces, [], owners, probe);
	if (probePiece && probe.length === 0) problems.push('the scan does not find a recorded piece in a probe text');

	const findings: Finding[] = [];
	let bytes = 0;
	for (const file of [...logFiles, ...metricsFiles]) {
		const text = readFileSync(file, 'latin1');
		bytes += statSync(file).size;
		scanText(text, file.slice(LOGS_DIR.length + 1), pieces, oddPieces, owners, findings);
	}

	const seconds = ((Date.now() - started) / 1000).toFixed(1);
	console.log(
		`leak scan: ${logFiles.length + metricsFiles.length} files (${appLogs.length} app logs, ` +
			`${metricsFiles.length} metrics texts, ${serviceLogs.length} services logs), ` +
			`${(bytes / 1_048_576).toFixed(1)} MB, ${secrets.size} secrets (${owners.size} pieces) checked, ` +
			`projects run: ${ran.join(', ') || 'none'}; ${findings.length} leaks, ${seconds} s`
	);
	for (const finding of findings.slice(0, MAX_REPORTED)) {
		console.error(`  LEAK ${finding.file}:${finding.line}: ${finding.what}`);
	}
	if (findings.length > MAX_REPORTED) console.error(`  … and ${findings.length - MAX_REPORTED} more`);
	for (const problem of problems) console.error(`  leak scan refused: ${problem}`);
	return findings.length > 0 || problems.length > 0 ? 1 : 0;
}

process.exit(main());
