export {
	appendMessage,
	conversationIdInput,
	getConversation,
	listConversations,
	MAX_MESSAGE_CHARS,
	MAX_SYSTEM_PROMPT_CHARS,
	MAX_TITLE_CHARS,
	startConversation,
	type ConversationSummary,
	type NewImage,
	type NewMessage,
	type StoredMessage
} from './store';
export {
	deleteAllConversations,
	deleteConversation,
	renameConversation,
	setSystemPrompt,
	systemPromptText
} from './manage';
export { renameInput, titleFrom } from './titles';
export { getMessageImage, loadThread, type Thread } from './thread';
export { searchConversations, type SearchHit } from './search';
export { branchOf, conversationMarkdown, exportAllConversations, exportConversationMarkdown } from './export';
