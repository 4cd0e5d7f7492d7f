import Ajv from 'ajv';
import openAiChatSchema from '../schemas/openai-chat.schema.json';

/**
 * Validates bodies of the OpenAI-compatible API against tests/schemas/openai-chat.schema.json
 * (derived from OpenAI's OpenAPI description; its `$comment` says from which version and how).
 * ajv runs in strict mode: a keyword it does not know in the schema is an error, not ignored.
 */

export type OpenAiSchemaName =
	| 'CreateChatCompletionResponse'
	| 'CreateChatCompletionStreamResponse'
	| 'CompletionUsage'
	| 'ErrorResponse'
	| 'ListModelsResponse';

const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
ajv.addSchema(openAiChatSchema);

/** Every way `value` breaks the named schema, one readable line each; `[]` when it is valid. */
export function schemaErrors(name: OpenAiSchemaName, value: unknown): string[] {
	const validate = ajv.getSchema(`${openAiChatSchema.$id}#/definitions/${name}`);
	if (!validate) throw new Error(`no schema named ${name}`);
	if (validate(value)) return [];
	return (validate.errors ?? []).map((error) => {
		const where = error.instancePath || '(root)';
		const extra =
			error.keyword === 'additionalProperties'
				? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})`
				: '';
		return `${where} ${error.message ?? error.keyword}${extra}`;
	});
}
