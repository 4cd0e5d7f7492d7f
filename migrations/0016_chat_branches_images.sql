-- The web chat's branches, system prompts and images (issue 19).

-- A system prompt per conversation ('' = none).
alter table conversations
	add column system_prompt text not null default '' check (length(system_prompt) <= 20000);

-- Messages form a tree: an edited question or a regenerated answer is a sibling, never an overwrite.
-- The parent is in the same conversation (the composite key makes the schema say so).
alter table messages add constraint messages_conversation_id_id_key unique (conversation_id, id);
alter table messages add column parent_id uuid;
alter table messages
	add constraint messages_parent_fkey foreign key (conversation_id, parent_id)
	references messages (conversation_id, id) on delete cascade;
alter table messages add constraint messages_not_own_parent check (parent_id is null or parent_id <> id);
-- Until now a conversation was one line: each message follows the one before it.
update messages m
set parent_id = ordered.previous
from (
	select id, lag(id) over (partition by conversation_id order by created_at, id) as previous
	from messages
) ordered
where m.id = ordered.id and ordered.previous is not null;
create index messages_parent_idx on messages (parent_id);

-- Images a person attached to a message, at most four, each at most 5 MB (Anthropic's limit).
create table message_images (
	message_id uuid not null references messages (id) on delete cascade,
	position smallint not null check (position between 0 and 3),
	media_type text not null check (media_type in ('image/png', 'image/jpeg', 'image/gif', 'image/webp')),
	data bytea not null check (octet_length(data) between 1 and 5242880),
	primary key (message_id, position)
);
