export {
	notify,
	listNotifications,
	markRead,
	listNotificationsInput,
	markReadInput,
	notificationKinds,
	utcDay,
	type NewNotification,
	type Notification,
	type NotificationKind
} from './notifications';
