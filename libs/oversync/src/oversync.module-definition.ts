import { ConfigurableModuleBuilder } from '@nestjs/common';
import { OVERSYNC_CONTROLLERS } from './http/oversync-controllers.js';
import type { OversyncModuleOptions } from './oversync.options.js';

/** Extras accepted by both `forRoot` and `forRootAsync`, resolved before the options factory runs. */
export interface OversyncModuleExtras {
  /** Register the module globally. @default false */
  isGlobal?: boolean;
  /**
   * Mount the `/sync/*` and `/syncx/*` controllers. `false` lets a host mount its own (an extra,
   * not an option, because Nest fixes a module's controllers before an async factory runs).
   * @default true
   */
  routes?: boolean;
}

export const {
  ConfigurableModuleClass: OversyncConfigurableModule,
  MODULE_OPTIONS_TOKEN: OVERSYNC_MODULE_OPTIONS,
  OPTIONS_TYPE: OVERSYNC_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: OVERSYNC_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<OversyncModuleOptions>({ moduleName: 'Oversync' })
  .setClassMethodName('forRoot')
  .setExtras<OversyncModuleExtras>({ isGlobal: false, routes: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    controllers: extras.routes === false ? [] : [...OVERSYNC_CONTROLLERS],
  }))
  .build();
