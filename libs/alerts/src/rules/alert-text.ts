/**
 * Human text for alerts, in Simplified Chinese and English: what happened, the likely cause and what
 * to do. Built from the alert's details only (the engine adds sn, tid, mid and model); every field is
 * optional here, so text stays readable when one is missing.
 */
import type { AlertDetails, AlertLocale, AlertRule, Severity } from './rule.types.js';

/** What the text announces: a new alert (default), a severity rise, or the condition clearing. */
export type AlertTextKind = 'raised' | 'escalated' | 'resolved';

export interface AlertText {
  title: string;
  body: string;
}

/** Short rule names (titles of resolved alerts, subscription pickers). */
export const ALERT_RULE_NAMES: Readonly<Record<AlertRule, Readonly<Record<AlertLocale, string>>>> = {
  plan_expiring: { 'zh-CN': '流量卡套餐即将到期', en: 'SIM data plan expiring' },
  plan_status: { 'zh-CN': '流量卡状态异常', en: 'SIM data plan not active' },
  renewal_failed: { 'zh-CN': '流量卡续费失败', en: 'SIM plan renewal failed' },
  auto_renew_off: { 'zh-CN': '流量卡未开启自动续费', en: 'SIM auto-renewal off' },
  data_allowance: { 'zh-CN': '流量用量偏高', en: 'Data allowance running out' },
  firmware_outdated: { 'zh-CN': '固件版本过旧', en: 'Firmware outdated' },
  firmware_not_latest: { 'zh-CN': '固件不是最新版本', en: 'Firmware not on the latest version' },
  app_outdated: { 'zh-CN': '支付应用版本过旧', en: 'Payment app outdated' },
  app_not_latest: { 'zh-CN': '支付应用不是最新版本', en: 'Payment app not on the latest version' },
  battery_low: { 'zh-CN': '电量低', en: 'Battery low' },
  signal_weak: { 'zh-CN': '信号弱', en: 'Weak signal' },
  offline: { 'zh-CN': '终端离线', en: 'Terminal offline' },
  silent: { 'zh-CN': '终端无心跳', en: 'Terminal silent' },
  relocated: { 'zh-CN': '终端位置异常', en: 'Terminal away from its registered location' },
  sim_changed: { 'zh-CN': '流量卡被更换', en: 'SIM card changed' },
  tx_connectivity: { 'zh-CN': '交易通讯失败频繁', en: 'Transactions failing on connectivity' },
  tx_tid_unregistered: { 'zh-CN': '终端号未登记（应答码 97）', en: 'TID not registered (code 97)' },
  tx_reversal: { 'zh-CN': '冲正异常', en: 'Reversal problem' },
};

const SEVERITY_LABELS: Readonly<Record<Severity, Readonly<Record<AlertLocale, string>>>> = {
  info: { 'zh-CN': '提示', en: 'Info' },
  warning: { 'zh-CN': '警告', en: 'Warning' },
  critical: { 'zh-CN': '严重', en: 'Critical' },
};

/** Typed, forgiving reads of the details. */
class Facts {
  constructor(readonly details: AlertDetails) {}

  str(key: string): string | null {
    const v = this.details[key];
    if (typeof v === 'string') return v.trim() === '' ? null : v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    return null;
  }

  num(key: string): number | null {
    const v = this.details[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    return null;
  }

  bool(key: string): boolean | null {
    const v = this.details[key];
    return typeof v === 'boolean' ? v : null;
  }

  /** An ISO instant as 'YYYY-MM-DD HH:mm' in details.timeZone (UTC, and said so, when absent or invalid). */
  time(key: string): string | null {
    const raw = this.str(key);
    if (raw === null) return null;
    const t = new Date(raw);
    if (Number.isNaN(t.getTime())) return raw;
    const zone = this.str('timeZone');
    if (zone) {
      try {
        const f = new Intl.DateTimeFormat('en-CA', {
          timeZone: zone,
          year: 'numeric',
          month: '2-digit',
          day: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        });
        const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
        return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
      } catch {
        // fall through to UTC
      }
    }
    return `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }
}

type Locale = AlertLocale;
type Render = (f: Facts, severity: Severity, locale: Locale) => { title: string; body: string };

const zh = (locale: Locale): boolean => locale === 'zh-CN';

function durationText(seconds: number | null, locale: Locale): string | null {
  if (seconds === null || seconds < 0) return null;
  const minutes = Math.round(seconds / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (zh(locale)) {
    if (days > 0) return `${days} 天${hours > 0 ? ` ${hours} 小时` : ''}`;
    if (hours > 0) return `${hours} 小时${mins > 0 ? ` ${mins} 分钟` : ''}`;
    return minutes > 0 ? `${minutes} 分钟` : `${Math.round(seconds)} 秒`;
  }
  if (days > 0) return `${days} d${hours > 0 ? ` ${hours} h` : ''}`;
  if (hours > 0) return `${hours} h${mins > 0 ? ` ${mins} min` : ''}`;
  return minutes > 0 ? `${minutes} min` : `${Math.round(seconds)} s`;
}

function componentName(f: Facts, locale: Locale, fallback: 'firmware' | 'app'): string {
  const c = f.str('component') ?? fallback;
  if (zh(locale)) return c === 'app' ? '支付应用' : '固件';
  return c === 'app' ? 'payment app' : 'firmware';
}

const versionOutdated: Render = (f, _s, locale) => {
  const what = componentName(f, locale, 'firmware');
  const version = f.str('version');
  const min = f.str('minSupported');
  const blocked = f.bool('blocked') === true;
  if (zh(locale)) {
    const title = blocked ? `${what}版本${version ? ` ${version} ` : ''}已被禁用` : `${what}版本过旧${version ? `（${version}）` : ''}`;
    const state = blocked
      ? `终端当前${what}版本${version ? ` ${version} ` : ''}已被列入禁用名单（该版本存在已知问题）。`
      : `终端当前${what}版本${version ? ` ${version} ` : ''}低于最低支持版本${min ? ` ${min}` : ''}。`;
    return {
      title,
      body: `${state}版本过旧或有问题的系统可能被银行端拒绝，导致交易失败或不稳定。请通过远程升级（OTA）把终端升级到最新版本；无法远程升级时，请让商户保持终端开机联网并重启，或安排上门升级。`,
    };
  }
  const title = blocked
    ? `${capitalize(what)} version ${version ? `${version} ` : ''}is blocked`
    : `${capitalize(what)} outdated${version ? ` (${version})` : ''}`;
  const state = blocked
    ? `The terminal runs ${what} ${version ?? '(unknown version)'}, which is on the blocked list (known problems).`
    : `The terminal runs ${what} ${version ?? '(unknown version)'}, below the minimum supported ${min ?? 'version'}.`;
  return {
    title,
    body: `${state} Outdated or faulty software can be refused by the bank side, so transactions fail or are unstable. Update the terminal over the air (OTA) to the latest version; if that is not possible, ask the merchant to keep it powered and online and restart it, or schedule an on-site update.`,
  };
};

const versionNotLatest: Render = (f, _s, locale) => {
  const what = componentName(f, locale, 'firmware');
  const version = f.str('version');
  const latest = f.str('latest');
  const days = f.num('notLatestAfterDays');
  if (zh(locale)) {
    return {
      title: `${what}不是最新版本${version ? `（${version}）` : ''}`,
      body: `终端${what}版本${version ? ` ${version}` : ''}，最新版本${latest ? ` ${latest} ` : ''}已发布${days !== null ? `超过 ${days} 天` : '一段时间'}。新版本通常包含银行端要求的更新和问题修复，建议安排远程升级（OTA）。`,
    };
  }
  return {
    title: `${capitalize(what)} not on the latest version${version ? ` (${version})` : ''}`,
    body: `The terminal runs ${what} ${version ?? '(unknown version)'}; the latest${latest ? `, ${latest},` : ''} has been out for ${days !== null ? `more than ${days} days` : 'a while'}. New versions usually carry bank-side requirements and fixes: schedule an over-the-air (OTA) update.`,
  };
};

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const RENDERERS: Readonly<Record<AlertRule, Render>> = {
  plan_expiring: (f, _s, locale) => {
    const date = f.str('expiresOn');
    const days = f.num('daysLeft');
    const autoRenew = f.bool('autoRenew');
    if (zh(locale)) {
      const title =
        days === null
          ? '流量卡套餐即将到期'
          : days > 0
            ? `流量卡套餐 ${days} 天后到期`
            : days === 0
              ? '流量卡套餐今天到期'
              : date
                ? `流量卡套餐已于 ${date} 到期`
                : '流量卡套餐已到期';
      const renew = autoRenew === true ? '已开启自动续费，请确认扣费账户可正常扣款、续费成功。' : autoRenew === false ? '未开启自动续费，需要手动续费。' : '';
      return {
        title,
        body: `终端的数据流量卡套餐有效期至${date ? ` ${date}` : '近期'}${days !== null && days >= 0 ? `（还剩 ${days} 天）` : ''}。到期后终端将无法联网，刷卡和扫码交易都会失败。请在${date ? ` ${date} ` : '到期'}之前为流量卡续费，并提醒商户。${renew}`,
      };
    }
    const title =
      days === null
        ? 'SIM data plan expiring soon'
        : days > 1
          ? `SIM data plan expires in ${days} days`
          : days === 1
            ? 'SIM data plan expires tomorrow'
            : days === 0
              ? 'SIM data plan expires today'
              : `SIM data plan expired${date ? ` on ${date}` : ''}`;
    const renew =
      autoRenew === true
        ? ' Auto-renewal is on: make sure the payment account can be charged so the renewal succeeds.'
        : autoRenew === false
          ? ' Auto-renewal is off, so it must be renewed by hand.'
          : '';
    return {
      title,
      body: `The terminal's data SIM is paid until ${date ?? 'soon'}${days !== null && days >= 0 ? ` (${days} day${days === 1 ? '' : 's'} left)` : ''}. After that it cannot connect and card and QR payments fail. Renew the SIM plan before ${date ?? 'it expires'} and let the merchant know.${renew}`,
    };
  },

  plan_status: (f, _s, locale) => {
    const status = f.str('planStatus');
    const date = f.str('expiresOn');
    if (zh(locale)) {
      if (status === 'grace') {
        return {
          title: '流量卡处于宽限期',
          body: `流量卡套餐已到期${date ? `（有效期至 ${date}）` : ''}，目前处于运营商宽限期，宽限期结束后终端将断网、无法交易。请尽快为流量卡续费，并提醒商户。`,
        };
      }
      if (status === 'suspended') {
        return {
          title: '流量卡已停机',
          body: '流量卡已被运营商停机（通常是欠费或套餐到期未续费）。终端无法联网，所有交易都会失败，屏幕会提示“连接失败”或“网络超时”。请联系运营商或服务商缴费复机；无法复机时请为商户更换终端。',
        };
      }
      return {
        title: '流量卡套餐已到期',
        body: `流量卡套餐已${date ? `于 ${date} ` : ''}到期，终端无法联网，所有交易都会失败。请立即续费；eSIM 无法续费时通常需要为商户更换终端。`,
      };
    }
    if (status === 'grace') {
      return {
        title: 'SIM data plan in grace period',
        body: `The SIM data plan has run out${date ? ` (paid until ${date})` : ''} and the carrier's grace period is running; when it ends the terminal goes offline and cannot take payments. Renew the SIM plan now and tell the merchant.`,
      };
    }
    if (status === 'suspended') {
      return {
        title: 'SIM suspended',
        body: 'The carrier has suspended the SIM (usually unpaid fees or a plan not renewed). The terminal cannot connect and every transaction fails with "connection failed" or "network timeout". Contact the carrier or service provider to pay and reactivate it; if that is not possible, swap the terminal.',
      };
    }
    return {
      title: 'SIM data plan expired',
      body: `The SIM data plan expired${date ? ` on ${date}` : ''}. The terminal cannot connect and every transaction fails. Renew it now; when an eSIM cannot be renewed the terminal usually has to be swapped.`,
    };
  },

  renewal_failed: (f, _s, locale) => {
    const at = f.time('renewalAt');
    const reason = f.str('reason');
    const date = f.str('expiresOn');
    if (zh(locale)) {
      return {
        title: '流量卡自动续费失败',
        body: `流量卡最近一次续费${at ? `（${at}）` : ''}失败${reason ? `，原因：${reason}` : ''}。如不处理，套餐${date ? `将于 ${date} ` : ''}到期后终端会停止服务、无法交易。请联系运营商或服务商完成续费（eSIM 续费失败时通常需要更换终端），并通知商户。`,
      };
    }
    return {
      title: 'SIM plan renewal failed',
      body: `The last SIM plan renewal${at ? ` (${at})` : ''} failed${reason ? `: ${reason}` : ''}. Unless it is fixed, the terminal stops working when the plan ends${date ? ` on ${date}` : ''}. Contact the carrier or service provider to complete the renewal (a failed eSIM renewal usually means swapping the terminal) and tell the merchant.`,
    };
  },

  auto_renew_off: (f, _s, locale) => {
    const date = f.str('expiresOn');
    const days = f.num('daysLeft');
    if (zh(locale)) {
      return {
        title: '流量卡未开启自动续费',
        body: `该终端的流量卡未开启自动续费，套餐${date ? `将于 ${date} ` : '即将'}到期${days !== null && days >= 0 ? `（还剩 ${days} 天）` : ''}。请在到期前手动续费或开启自动续费，以免终端断网、商户无法收款。`,
      };
    }
    return {
      title: 'SIM auto-renewal is off',
      body: `Auto-renewal is off for this terminal's SIM and the plan ends ${date ? `on ${date}` : 'soon'}${days !== null && days >= 0 ? ` (${days} day${days === 1 ? '' : 's'} left)` : ''}. Renew it by hand before then or switch auto-renewal on, so the terminal does not go offline.`,
    };
  },

  data_allowance: (f, _s, locale) => {
    const used = f.num('usedMb');
    const allowance = f.num('allowanceMb');
    const percent = f.num('percent');
    const exhausted = percent !== null && percent >= 100;
    if (zh(locale)) {
      return {
        title: exhausted ? '流量已用尽' : `流量已用 ${percent ?? '大部分'}${percent !== null ? '%' : ''}`,
        body: `本计费周期已用流量${used !== null && allowance !== null ? ` ${used} MB / ${allowance} MB` : ''}${percent !== null ? `（${percent}%）` : ''}。流量用尽后终端会被限速或断网，交易会超时失败。请为流量卡加购流量包或升级套餐；若用量异常偏高，请检查终端是否被挪作他用。`,
      };
    }
    return {
      title: exhausted ? 'Data allowance used up' : `Data allowance ${percent !== null ? `${percent}% ` : ''}used`,
      body: `This billing period the SIM has used${used !== null && allowance !== null ? ` ${used} MB of ${allowance} MB` : ' most of its data'}${percent !== null ? ` (${percent}%)` : ''}. When it runs out the terminal is throttled or cut off and transactions time out. Buy a data add-on or a larger plan; if usage looks unusually high, check the terminal is not being used for something else.`,
    };
  },

  firmware_outdated: versionOutdated,
  app_outdated: (f, s, locale) => versionOutdated(new Facts({ component: 'app', ...f.details }), s, locale),
  firmware_not_latest: versionNotLatest,
  app_not_latest: (f, s, locale) => versionNotLatest(new Facts({ component: 'app', ...f.details }), s, locale),

  battery_low: (f, severity, locale) => {
    const pct = f.num('batteryPct');
    const crit = f.num('criticalBelowPct') ?? 10;
    if (zh(locale)) {
      return {
        title: `电量低${pct !== null ? `（${pct}%）` : ''}`,
        body: `终端电量仅剩${pct !== null ? ` ${pct}%` : '很少'}，且未在充电。${severity === 'critical' ? `电量低于 ${crit}% 时交易可能不稳定，很快会自动关机。` : '电量耗尽后终端会关机，无法收款。'}请提醒商户尽快为终端充电（使用原装充电器），营业期间可保持充电。`,
      };
    }
    return {
      title: `Battery low${pct !== null ? ` (${pct}%)` : ''}`,
      body: `The terminal is at${pct !== null ? ` ${pct}%` : ' a low'} battery and not charging. ${severity === 'critical' ? `Below ${crit}% transactions become unstable and it will shut down soon.` : 'When it runs flat it shuts down and cannot take payments.'} Ask the merchant to charge the terminal now (original charger) and keep it plugged in during business hours.`,
    };
  },

  signal_weak: (f, _s, locale) => {
    const parts = [
      f.num('rsrp') !== null ? `RSRP ${f.num('rsrp')} dBm` : null,
      f.num('csq') !== null && f.num('csq') !== 99 ? `CSQ ${f.num('csq')}` : null,
      f.num('sinr') !== null ? `SINR ${f.num('sinr')} dB` : null,
    ].filter((p): p is string => p !== null);
    const figures = parts.length > 0 ? parts.join(zh(locale) ? '，' : ', ') : null;
    const streak = f.num('badHeartbeats');
    if (zh(locale)) {
      return {
        title: '信号弱',
        body: `终端${streak !== null && streak > 0 ? `连续 ${streak} 次心跳` : '近期'}信号弱${figures ? `（${figures}）` : ''}。信号弱是交易“连接失败”“网络超时”最常见的原因。终端可能在地下室、电梯或金属柜内，请移到窗边或开阔处；若位置无法调整，可考虑更换信号更好的运营商流量卡。`,
      };
    }
    return {
      title: 'Weak signal',
      body: `The terminal has reported weak signal${streak !== null && streak > 0 ? ` for ${streak} heartbeats in a row` : ''}${figures ? ` (${figures})` : ''}. Weak signal is the most common cause of "connection failed" and "network timeout". The terminal may be in a basement, a lift or a metal cabinet: move it near a window or into the open. If it cannot be moved, consider a SIM from a carrier with better coverage there.`,
    };
  },

  offline: (f, _s, locale) => {
    const lastSeen = f.time('lastSeen');
    const minutes = f.num('offlineMinutes');
    const duration = durationText(minutes !== null ? minutes * 60 : null, locale);
    if (zh(locale)) {
      return {
        title: '终端离线',
        body: `终端已离线${duration ? `约 ${duration}` : ''}${lastSeen ? `（最后在线：${lastSeen}）` : ''}。可能原因：终端关机或电量耗尽、流量卡欠费停机、所在位置没有信号。请联系商户确认终端是否开机、是否有信号，并检查流量卡状态。`,
      };
    }
    return {
      title: 'Terminal offline',
      body: `The terminal has been offline${duration ? ` for about ${duration}` : ''}${lastSeen ? ` (last seen ${lastSeen})` : ''}. Likely causes: switched off or flat battery, SIM suspended for non-payment, or no signal where it is. Call the merchant to check it is on and has signal, and check the SIM status.`,
    };
  },

  silent: (f, _s, locale) => {
    const lastSeen = f.time('lastSeen');
    const duration = durationText(f.num('silentSeconds'), locale);
    const interval = f.num('expectedIntervalS');
    if (zh(locale)) {
      return {
        title: '终端无心跳',
        body: `终端仍保持连接，但已${duration ? ` ${duration}` : '较长时间'}没有上报心跳${interval !== null ? `（正常每 ${interval} 秒一次）` : ''}${lastSeen ? `，最后一次：${lastSeen}` : ''}。终端程序可能卡死，或网络连接处于半断开状态。请让商户重启终端；重启后仍无心跳请安排检修。`,
      };
    }
    return {
      title: 'Terminal silent',
      body: `The terminal is still connected but has sent no heartbeat for ${duration ?? 'a long time'}${interval !== null ? ` (normally every ${interval} s)` : ''}${lastSeen ? `; last one at ${lastSeen}` : ''}. Its software may have hung or the connection is half-open. Ask the merchant to restart the terminal; if heartbeats do not resume, arrange a repair.`,
    };
  },

  relocated: (f, _s, locale) => {
    const km = f.num('distanceKm');
    const limit = f.num('limitKm');
    if (zh(locale)) {
      return {
        title: `终端位置异常${km !== null ? `（距登记地 ${Math.round(km)} 公里）` : ''}`,
        body: `终端当前位置距离登记的装机地址${km !== null ? `约 ${Math.round(km)} 公里` : '较远'}${limit !== null ? `（阈值 ${limit} 公里）` : ''}。异地使用会触发收单机构风控，交易可能被拦截；也可能是终端被转借或私自移机。请与商户核实：如属正常搬迁，请更新登记地址；否则请暂停该终端。`,
      };
    }
    return {
      title: `Terminal away from its registered location${km !== null ? ` (${Math.round(km)} km)` : ''}`,
      body: `The terminal reports a position${km !== null ? ` about ${Math.round(km)} km` : ' far'} from its registered installation address${limit !== null ? ` (limit ${limit} km)` : ''}. The acquirer's risk control may decline transactions far from the registered place, and it may also mean the terminal was lent out or moved without notice. Check with the merchant: if they moved, update the registered address; otherwise suspend the terminal.`,
    };
  },

  sim_changed: (f, _s, locale) => {
    const iccid = f.str('iccid');
    const previous = f.str('previousIccid');
    if (zh(locale)) {
      return {
        title: '流量卡被更换',
        body: `终端的流量卡已更换${previous || iccid ? `（ICCID ${previous ?? '未知'} → ${iccid ?? '未知'}）` : ''}。如果不是服务商安排的换卡，可能是原卡被拔出挪作他用，或终端被调包。请与商户核实，并确认新卡的套餐状态。`,
      };
    }
    return {
      title: 'SIM card changed',
      body: `The terminal's SIM has changed${previous || iccid ? ` (ICCID ${previous ?? 'unknown'} → ${iccid ?? 'unknown'})` : ''}. If the service provider did not arrange the swap, the SIM may have been taken out for use elsewhere, or the terminal swapped. Check with the merchant and confirm the new SIM's plan.`,
    };
  },

  tx_connectivity: (f, _s, locale) => {
    const declines = f.num('connectivityDeclines');
    const reversals = f.num('reversals');
    const window = f.num('windowHeartbeats');
    if (zh(locale)) {
      return {
        title: '交易通讯失败频繁',
        body: `最近${window !== null ? ` ${window} 个心跳周期` : '一段时间'}内出现${declines !== null ? ` ${declines} 笔` : ''}通讯类拒绝（应答码 92 银行通讯故障、96 系统故障）${reversals !== null ? `和 ${reversals} 次冲正` : ''}。通常是信号差或流量卡欠费导致交易超时。请检查终端信号和流量卡状态，让商户把终端移到信号好的位置；若信号和流量卡都正常，请联系收单机构确认主机状态。`,
      };
    }
    return {
      title: 'Transactions failing on connectivity',
      body: `In the last ${window !== null ? `${window} heartbeat periods` : 'while'} there were${declines !== null ? ` ${declines}` : ''} communication declines (code 92 bank communication failure, 96 system malfunction)${reversals !== null ? ` and ${reversals} reversal${reversals === 1 ? '' : 's'}` : ''}. This usually means weak signal or an unpaid SIM making transactions time out. Check the terminal's signal and SIM status and ask the merchant to move it where reception is better; if both are fine, ask the acquirer whether their host has a problem.`,
    };
  },

  tx_tid_unregistered: (f, _s, locale) => {
    const tid = f.str('tid');
    const mid = f.str('mid');
    if (zh(locale)) {
      return {
        title: `终端号未在收单机构登记（应答码 97）${tid ? `：${tid}` : ''}`,
        body: `交易被拒，应答码 97：收单机构找不到该终端号${tid ? ` TID ${tid}` : ''}，或应答中的终端号与请求不符。在处理之前商户的所有交易都会失败。请联系收单机构登记终端号${tid ? ` ${tid}` : ''}${mid ? `（商户号 ${mid}）` : ''}，并核对终端参数中的 TID 和商户号是否下载正确。`,
      };
    }
    return {
      title: `TID not registered with the acquirer (code 97)${tid ? `: ${tid}` : ''}`,
      body: `Transactions are declined with code 97: the acquirer does not know the terminal ID${tid ? ` ${tid}` : ''}, or the TID in its reply does not match the request. Every transaction of this merchant fails until this is fixed. Contact the acquirer to register TID ${tid ?? '(see the terminal settings)'}${mid ? ` for MID ${mid}` : ''}, and check that the TID and MID loaded on the terminal are correct.`,
    };
  },

  tx_reversal: (f, severity, locale) => {
    const failed = f.num('reversalsFailed');
    const pending = f.num('reversalsPending');
    const heartbeats = f.num('pendingHeartbeats');
    const lastFailedAt = f.time('lastFailedAt');
    const isFailure = severity === 'critical' || (failed !== null && failed > 0);
    if (zh(locale)) {
      if (isFailure) {
        return {
          title: '冲正失败：持卡人已被扣款',
          body: `终端有${failed !== null && failed > 0 ? ` ${failed} 笔` : ''}冲正失败${lastFailedAt ? `（最近一次：${lastFailedAt}）` : ''}：交易超时后终端自动发起的冲正未被主机确认，持卡人已被扣款。商户须为持卡人办理退款，或向收单机构提出差错处理（调单/索赔）。频繁冲正说明终端通讯不稳定，请同时检查信号和流量卡。`,
        };
      }
      return {
        title: '冲正长时间未完成',
        body: `终端有${pending !== null && pending > 0 ? ` ${pending} 笔` : ''}冲正${heartbeats !== null ? `已连续 ${heartbeats} 个心跳周期` : '长时间'}未完成。终端会一直重试，下一笔交易前必须先完成冲正，商户暂时可能无法收款。通常是网络问题：请检查终端信号和流量卡状态，必要时让商户重启终端。`,
      };
    }
    if (isFailure) {
      return {
        title: 'Reversal failed: the cardholder was charged',
        body: `${failed !== null && failed > 0 ? `${failed} reversal${failed === 1 ? '' : 's'}` : 'A reversal'} failed on this terminal${lastFailedAt ? ` (last at ${lastFailedAt})` : ''}: the automatic reversal after a timed-out sale was never acknowledged, so the cardholder was charged. The merchant must refund the cardholder or raise a claim with the acquirer. Repeated reversals point to an unstable connection: check the signal and SIM as well.`,
      };
    }
    return {
      title: 'Reversal pending for a long time',
      body: `${pending !== null && pending > 0 ? `${pending} reversal${pending === 1 ? ' has' : 's have'}` : 'A reversal has'} been pending${heartbeats !== null ? ` for ${heartbeats} heartbeat periods` : ' for a long time'}. The terminal keeps retrying and must complete it before the next sale, so the merchant may not be able to take payments. This is usually a network problem: check the signal and SIM, and ask the merchant to restart the terminal if needed.`,
    };
  },
};

function identity(f: Facts, locale: Locale): string | null {
  const sn = f.str('sn');
  const model = f.str('model');
  const tid = f.str('tid');
  const mid = f.str('mid');
  const parts: string[] = [];
  if (zh(locale)) {
    if (sn) parts.push(`SN ${sn}${model ? `（${model}）` : ''}`);
    else if (model) parts.push(`型号 ${model}`);
    if (tid) parts.push(`终端号 TID ${tid}`);
    if (mid) parts.push(`商户号 MID ${mid}`);
    return parts.length > 0 ? `终端：${parts.join('，')}` : null;
  }
  if (sn) parts.push(`SN ${sn}${model ? ` (${model})` : ''}`);
  else if (model) parts.push(`model ${model}`);
  if (tid) parts.push(`TID ${tid}`);
  if (mid) parts.push(`MID ${mid}`);
  return parts.length > 0 ? `Terminal: ${parts.join(', ')}` : null;
}

/**
 * Title and body for one alert. `kind` (default 'raised') changes the wording for escalations and
 * resolutions. Unknown locales fall back to English.
 */
export function renderAlertText(rule: AlertRule, severity: Severity, details: AlertDetails, locale: AlertLocale, kind: AlertTextKind = 'raised'): AlertText {
  const lang: Locale = locale === 'zh-CN' ? 'zh-CN' : 'en';
  const facts = new Facts(details);
  const sn = facts.str('sn');
  const id = identity(facts, lang);
  const label = SEVERITY_LABELS[severity]?.[lang] ?? severity;
  const name = ALERT_RULE_NAMES[rule]?.[lang] ?? rule;
  const snSuffix = sn ? ` · ${sn}` : '';

  if (kind === 'resolved') {
    const title = lang === 'zh-CN' ? `[已恢复] ${name}${snSuffix}` : `[Resolved] ${name}${snSuffix}`;
    const line = lang === 'zh-CN' ? `告警“${name}”已解除：触发条件不再成立。` : `The "${name}" alert has cleared: its condition no longer holds.`;
    return { title, body: id ? `${line}\n${id}` : line };
  }

  const render = RENDERERS[rule];
  const text = render ? render(facts, severity, lang) : { title: name, body: name };
  const prefix = kind === 'escalated' ? (lang === 'zh-CN' ? `[升级为${label}]` : `[Escalated to ${label}]`) : `[${label}]`;
  return { title: `${prefix} ${text.title}${snSuffix}`, body: id ? `${text.body}\n${id}` : text.body };
}
