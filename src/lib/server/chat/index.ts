export { handleWebChat, type WebChatContext } from './web-chat';
export { webChatInput } from './input';
