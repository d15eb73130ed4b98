import { parseTerminalTopic, TerminalTopicKind, topics, TOPIC_ROOT } from '#contracts';
import type { MqttIdentity } from './mqtt-identity.js';

export type PublishDecision = { allow: true; kind: TerminalTopicKind; sn: string } | { allow: false; reason: 'acl_denied' | 'unknown_topic' };

/**
 * Terminals publish only under their own prefix, to the topics they own (heartbeat, presence,
 * command acks). Service accounts publish commands to any terminal.
 */
export function decidePublish(identity: MqttIdentity, topic: string): PublishDecision {
  const parsed = parseTerminalTopic(topic);
  if (identity.kind === 'service') {
    if (parsed?.kind === TerminalTopicKind.Commands) return { allow: true, kind: parsed.kind, sn: parsed.sn };
    return { allow: false, reason: 'acl_denied' };
  }
  if (!parsed || parsed.sn !== identity.sn) return { allow: false, reason: 'acl_denied' };
  if (parsed.kind === null) return { allow: false, reason: 'unknown_topic' };
  if (parsed.kind === TerminalTopicKind.Commands) return { allow: false, reason: 'acl_denied' };
  return { allow: true, kind: parsed.kind, sn: parsed.sn };
}

/** Terminals subscribe only to their own command topic; service accounts to anything under the root. */
export function canSubscribe(identity: MqttIdentity, filter: string): boolean {
  if (identity.kind === 'service') return filter === '#' ? false : filter.startsWith(`${TOPIC_ROOT}/`) || filter.startsWith('$SYS/');
  return filter === topics.commands(identity.sn);
}
