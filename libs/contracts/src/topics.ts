/**
 * MQTT topic contract. Every terminal owns one prefix keyed by its serial number:
 *   pos/v1/{sn}/heartbeat      terminal -> backend, QoS 1
 *   pos/v1/{sn}/presence       terminal -> backend, retained, also the Last Will
 *   pos/v1/{sn}/commands       backend  -> terminal, QoS 1 (the only topic a terminal may subscribe to)
 *   pos/v1/{sn}/commands/ack   terminal -> backend, QoS 1
 */
export const TOPIC_ROOT = 'pos/v1';

/** Serial numbers are used as MQTT client ids and topic levels, so no wildcards or separators. */
export const SN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{3,31}$/;

export const TerminalTopicKind = {
  Heartbeat: 'heartbeat',
  Presence: 'presence',
  Commands: 'commands',
  CommandAck: 'commands/ack',
} as const;
export type TerminalTopicKind = (typeof TerminalTopicKind)[keyof typeof TerminalTopicKind];

const KIND_BY_SUFFIX: ReadonlyMap<string, TerminalTopicKind> = new Map(Object.values(TerminalTopicKind).map((kind) => [kind, kind]));

export function isValidSn(sn: string): boolean {
  return SN_PATTERN.test(sn);
}

export function terminalPrefix(sn: string): string {
  return `${TOPIC_ROOT}/${sn}`;
}

export const topics = {
  heartbeat: (sn: string): string => `${TOPIC_ROOT}/${sn}/${TerminalTopicKind.Heartbeat}`,
  presence: (sn: string): string => `${TOPIC_ROOT}/${sn}/${TerminalTopicKind.Presence}`,
  commands: (sn: string): string => `${TOPIC_ROOT}/${sn}/${TerminalTopicKind.Commands}`,
  commandAck: (sn: string): string => `${TOPIC_ROOT}/${sn}/${TerminalTopicKind.CommandAck}`,
  /** Subscription filters for backend service accounts. */
  allHeartbeats: `${TOPIC_ROOT}/+/${TerminalTopicKind.Heartbeat}`,
  allPresence: `${TOPIC_ROOT}/+/${TerminalTopicKind.Presence}`,
  allCommandAcks: `${TOPIC_ROOT}/+/${TerminalTopicKind.CommandAck}`,
} as const;

export interface ParsedTerminalTopic {
  sn: string;
  /** null when the topic is under a terminal prefix but names no known message. */
  kind: TerminalTopicKind | null;
}

/** Parses `pos/v1/{sn}/...`; returns null when the topic is not under any terminal prefix. */
export function parseTerminalTopic(topic: string): ParsedTerminalTopic | null {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return null;
  const rest = topic.slice(TOPIC_ROOT.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const sn = rest.slice(0, slash);
  if (!isValidSn(sn)) return null;
  return { sn, kind: KIND_BY_SUFFIX.get(rest.slice(slash + 1)) ?? null };
}
