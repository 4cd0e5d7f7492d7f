export { handleWebChat, webChatInput, type WebChatContext } from './web-chat';
