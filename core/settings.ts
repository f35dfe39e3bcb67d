/**
 * An app's settings in one place: the defaults of {@linkcode CarafeOptions} (once, for
 * the app, `run()` and the CLI), how a mounted app inherits what it did not set, and
 * the per-request view of them (compiled once per change, compared per request).
 *
 * @example
 * ```ts
 * import { CONFIG_DEFAULTS } from "./settings.ts";
 * console.log(CONFIG_DEFAULTS.maxBodySize); // 104857600 (100 MiB)
 * ```
 *
 * @module
 */
import { DEFAULT_BODY_LIMITS } from "./body.ts";
import { describeError } from "./errors.ts";
import type { CarafeOptions } from "./handlers.ts";
import { compileTrust, type TrustProxy } from "./proxy.ts";
import type { RequestContext } from "./request.ts";

/** Carafe's version, as the banner and `carafe --version` print it. */
export const VERSION = "0.1.0";

/**
 * Whether an app in this process has run with `debug`. Like Bottle's global `DEBUG`,
 * it reaches past the app: named templates are no longer cached (core/template.ts), so
 * edited files show at once. It stays on: templates do not know which app renders them.
 */
export const debugMode = { active: false };

/** The options of an app with every default filled in. */
export type Config = Required<Omit<CarafeOptions, "logger">> & { logger: (message: string) => void };

/**
 * The prototype of every app's `config`: an app's own properties are then exactly the
 * settings it was given, which a mounted app needs to tell "set" from "default".
 */
export const CONFIG_DEFAULTS: Config = {
  debug: false,
  ...DEFAULT_BODY_LIMITS,
  trustProxy: false,
  logger: (message) => console.error(message),
};
/** The names of the settings, in a fixed order. */
export const SETTING_NAMES = Object.keys(CONFIG_DEFAULTS) as (keyof Config)[];

/**
 * The settings an app answers with: its config, and in a mounted app what it inherits.
 * One object per change of settings, shared by every request (requests only compare).
 */
export interface Settings extends RequestContext, Config {
  /** The logger, made safe: a logger that throws must not break the answer. */
  log: (message: string) => void;
  /** The dispatching app's settings these inherit from; `undefined` at the top. */
  parent: Settings | undefined;
}

/** A setting in effect: the app's own, or in a mounted app that did not set it, its parent's. */
export function settingOf<K extends keyof Config>(config: Config, parent: Settings | undefined, name: K): Config[K] {
  return parent === undefined || Object.hasOwn(config, name) ? config[name] : parent[name];
}

/** Settings from the config in effect (`trust` compiled from its `trustProxy`). */
export function makeSettings(config: Config, parent: Settings | undefined, trust: RequestContext["trust"]): Settings {
  const values = {} as Config;
  for (const name of SETTING_NAMES) (values as Record<string, unknown>)[name] = settingOf(config, parent, name);
  if (values.debug) debugMode.active = true;
  const logger = values.logger;
  const log = (message: string) => {
    try {
      logger(message);
    } catch { /* a broken logger must not break the answer */ }
  };
  return { ...values, trust, log, parent };
}

/**
 * Whether `settings` still are those `config` (and `parent`, for what it did not set)
 * give. Asked on every request: at the top, spelled out (named reads are the fast ones).
 */
export function sameSettings(s: Settings, c: Config, parent: Settings | undefined): boolean {
  if (parent === undefined) {
    return s.debug === c.debug && s.maxBodySize === c.maxBodySize && s.maxFormSize === c.maxFormSize &&
      s.maxFormFields === c.maxFormFields && s.maxFormFieldSize === c.maxFormFieldSize &&
      s.maxJsonSize === c.maxJsonSize && s.maxJsonDepth === c.maxJsonDepth && s.trustProxy === c.trustProxy &&
      s.logger === c.logger;
  }
  for (const name of SETTING_NAMES) {
    if (s[name] !== settingOf(c, parent, name)) return false;
  }
  return true;
}

/**
 * `compileTrust` for a `trustProxy` assigned after the app was made (the constructor
 * compiles, and throws, at once): an invalid value is logged and no proxy is trusted,
 * so that requests still get answers and `fetch()` keeps its promise never to throw.
 */
export function compileTrustSafely(trustProxy: TrustProxy, logger: (message: string) => void): RequestContext["trust"] {
  try {
    return compileTrust(trustProxy);
  } catch (err) {
    try {
      logger(`config.trustProxy is invalid, so no proxy is trusted: ${describeError(err)}`);
    } catch { /* a broken logger must not break the answer */ }
    return () => false;
  }
}
