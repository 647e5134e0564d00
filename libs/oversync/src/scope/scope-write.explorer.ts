import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { OversyncConfigError, ScopeWriteInvalidError } from '../errors/index.js';
import { SCOPE_WRITE_METADATA } from '../oversync.internal-constants.js';
import type { ScopeWriteMetadata } from './scope-write.decorator.js';
import { ScopeManager } from './scope.manager.js';
import { ScopeWriteContext } from './scope-write.context.js';

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Finds `@ScopeWrite` methods on this application's providers and controllers at start-up and
 * wraps them in `ScopeManager.execWrite`. The wrappers live on a per-instance prototype inserted
 * in front of the class prototype: the class itself is untouched, so two Nest apps in one process
 * never see each other's wrappers, and Nest's router (which reads handlers from the instance's
 * prototype) calls the wrapped version. All metadata of the original method is copied across.
 *
 * Nest registers routes before `onModuleInit`, so `OversyncModule.configure()` (which runs before
 * route registration in HTTP apps) triggers the scan; `onModuleInit` covers standalone contexts.
 */
@Injectable()
export class ScopeWriteExplorer implements OnModuleInit {
  readonly #logger = new Logger('OversyncScopeWrite');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly manager: ScopeManager,
    private readonly context: ScopeWriteContext,
  ) {}

  readonly #seen = new WeakSet<object>();

  onModuleInit(): void {
    this.explore();
  }

  /** Wraps every not-yet-wrapped `@ScopeWrite` method of this app's instances. Idempotent. */
  explore(): void {
    let count = 0;
    const controllers = new Set(this.discovery.getControllers());
    for (const wrapper of [...this.discovery.getProviders(), ...controllers]) {
      if (!wrapper.isDependencyTreeStatic()) {
        this.#refuseScoped(wrapper.metatype, controllers.has(wrapper));
        continue;
      }
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object' || this.#seen.has(instance)) continue;
      this.#seen.add(instance);
      count += this.#wrapInstance(instance as Record<string, unknown>);
    }
    if (count > 0) this.#logger.log(`${count} @ScopeWrite method(s) wrapped`);
  }

  /**
   * Request-scoped and transient instances are created after start-up, one per request or
   * injection, where this explorer cannot reach them; their `@ScopeWrite` methods would run
   * unwrapped (outside any bundle). Refuse them at start-up instead of failing on first use.
   */
  #refuseScoped(metatype: unknown, controller: boolean): void {
    const proto = (typeof metatype === 'function' ? (metatype.prototype as unknown) : null) as Record<
      string,
      unknown
    > | null;
    if (!proto) return;
    const marked = this.scanner
      .getAllMethodNames(proto)
      .filter(
        (name) => typeof proto[name] === 'function' && Reflect.hasMetadata(SCOPE_WRITE_METADATA, proto[name]),
      );
    if (marked.length === 0) return;
    const className = (metatype as { name?: string }).name ?? 'provider';
    // Nest makes every controller request-scoped when one global enhancer is: a controller that is
    // a singleton in its own code gets here for a cause its author would never look for.
    const cause = controller
      ? "its own scope, a dependency's, or a request-scoped global enhancer (an APP_GUARD, APP_INTERCEPTOR, APP_PIPE or APP_FILTER with Scope.REQUEST, which Nest applies to every controller)"
      : "its own scope or a dependency's";
    throw new OversyncConfigError(
      `@ScopeWrite on ${className}.${marked[0]} is on a request-scoped or transient provider (through ${cause}): its instances are created per request and cannot be wrapped. Fix: make ${className} a singleton (move the request-scoped dependency or enhancer out of it), or call ScopeManager.execWrite(...) from it, or from a singleton service, instead of decorating the method.`,
      { provider: className, method: marked[0] },
    );
  }

  #wrapInstance(instance: Record<string, unknown>): number {
    const proto = Object.getPrototypeOf(instance) as Record<string, unknown> | null;
    if (!proto) return 0;
    const marked = this.scanner
      .getAllMethodNames(proto)
      .map((name) => [name, proto[name]] as const)
      .filter(([, fn]) => typeof fn === 'function' && Reflect.hasMetadata(SCOPE_WRITE_METADATA, fn));
    if (marked.length === 0) return 0;
    const layer = Object.create(proto) as Record<string, unknown>;
    const className = (proto.constructor as { name?: string } | undefined)?.name ?? 'provider';
    for (const [name, fn] of marked) {
      const original = fn as AnyMethod;
      const meta = Reflect.getMetadata(SCOPE_WRITE_METADATA, original) as ScopeWriteMetadata;
      if (typeof meta.writerId !== 'string' || meta.writerId.trim() === '') {
        throw new ScopeWriteInvalidError(
          `@ScopeWrite on ${className}.${name} needs a non-blank writerId, e.g. @ScopeWrite('admin-panel')`,
        );
      }
      layer[name] = this.#wrapMethod(original, meta, `${className}.${name}`);
    }
    Object.setPrototypeOf(instance, layer);
    return marked.length;
  }

  #wrapMethod(original: AnyMethod, meta: ScopeWriteMetadata, label: string): AnyMethod {
    const { manager, context } = this;
    const writerId = meta.writerId.trim();
    const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const picked = meta.scopeId ? meta.scopeId(...args) : args[0];
      const scopeId = typeof picked === 'string' ? picked.trim() : '';
      if (!scopeId) {
        throw new ScopeWriteInvalidError(
          `@ScopeWrite method ${label} needs a scope id: pass it as the first argument (a string) or set @ScopeWrite({ writerId, scopeId: (...args) => string })`,
        );
      }
      const outer = context.current();
      if (outer) {
        // Same scope: join the outer bundle (one transaction, one bundle). Another scope: its lock
        // and bundle are separate, which a single transaction cannot honour.
        if (outer.scopeId === scopeId) return original.apply(this, args);
        throw new ScopeWriteInvalidError(
          `@ScopeWrite method ${label} for scope ${scopeId} was called inside the scope write of ${outer.scopeId}; a bundle belongs to exactly one scope`,
          { scope_id: scopeId, outer_scope_id: outer.scopeId },
        );
      }
      const { result } = await manager.execWrite(scopeId, { writerId }, () =>
        Promise.resolve(original.apply(this, args)),
      );
      return result;
    };
    for (const key of Reflect.getMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
    }
    Object.defineProperty(wrapped, 'name', { value: original.name });
    return wrapped;
  }
}
