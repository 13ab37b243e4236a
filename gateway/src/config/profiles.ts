import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { profileSchema, validate, type DeviceProfile, type DriverPlugin } from '@citypilot/sdk';
import { ConfigFileError as GatewayConfigError, parseYaml, type YamlSource } from '@citypilot/sdk';

/** A profile read from its file, with the means to point at its lines. */
export interface LoadedProfile {
  profile: DeviceProfile;
  source: YamlSource;
}

/**
 * Device profiles by plugin and id, from each plugin's own folder and from the folders a gateway
 * configuration adds (`profileDirs`, for models the plugins do not ship). A profile is the file
 * `<id>.yaml`; a folder named later wins, so a site can replace a shipped profile. Files are read
 * when first asked for, once.
 */
export class ProfileLibrary {
  private readonly loaded = new Map<string, LoadedProfile>();

  constructor(private readonly extraDirs: readonly string[] = []) {}

  /** Folders searched for `plugin`'s profiles, first to last. */
  dirs(plugin: DriverPlugin): string[] {
    return [...(plugin.profilesDir ? [plugin.profilesDir] : []), ...this.extraDirs].filter((d) => existsSync(d));
  }

  /** Ids of the profiles available to `plugin`. */
  ids(plugin: DriverPlugin): string[] {
    const ids = new Set<string>();
    for (const dir of this.dirs(plugin)) for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) ids.add(basename(f, '.yaml'));
    return [...ids].sort();
  }

  /**
   * The profile `id` of `plugin`, validated; undefined when no folder has it.
   * @throws GatewayConfigError naming the profile file's lines when it is invalid
   */
  get(plugin: DriverPlugin, id: string): LoadedProfile | undefined {
    const file = this.dirs(plugin)
      .map((d) => join(d, `${id}.yaml`))
      .filter((f) => existsSync(f))
      .at(-1);
    if (!file) return undefined;
    const cached = this.loaded.get(file);
    if (cached) return cached;
    const source = parseYaml(readFileSync(file, 'utf8'), file);
    const result = validate(profileSchema(plugin), source.data);
    if (!result.ok) throw new GatewayConfigError(file, source.describe(result.issues));
    if (result.value.id !== id)
      throw new GatewayConfigError(file, source.describe([{ path: ['id'], message: `must be ${JSON.stringify(id)}, the file's name` }]));
    const loaded = { profile: result.value, source };
    this.loaded.set(file, loaded);
    return loaded;
  }
}
