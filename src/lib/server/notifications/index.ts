export {
	notify,
	listNotifications,
	markRead,
	listNotificationsInput,
	markReadInput,
	utcDay,
	type NewNotification,
	type Notification,
	type NotificationKind
} from './notifications';
