// What most subcommands need: the config file (SPEC: --config FILE, else
// $KAKITOME_CONFIG, else ./kakitome.toml), the loaded config and the open store.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { openStore, type Store } from '../store/store.ts';

export const DEFAULT_CONFIG_FILE = 'kakitome.toml';

export function configPathOf(cmd: Command): string {
  const fromFlag = cmd.optsWithGlobals<{ config?: string }>().config;
  return resolve(fromFlag ?? process.env.KAKITOME_CONFIG ?? DEFAULT_CONFIG_FILE);
}

export async function loadConfigOf(cmd: Command): Promise<Config> {
  return loadConfig(configPathOf(cmd));
}

export interface StoreContext {
  config: Config;
  store: Store;
}

/** Loads the config, opens the store, runs fn and always closes the store. */
export async function withStore<T>(cmd: Command, fn: (context: StoreContext) => T | Promise<T>): Promise<T> {
  const config = await loadConfigOf(cmd);
  const store = openStore(config.data_dir);
  try {
    return await fn({ config, store });
  } finally {
    await store.close();
  }
}
