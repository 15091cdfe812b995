/** Public surface of the timeline package: the renderer, its formatting, and the snapshot types. */

export * from './format';
export * from './renderer';
export * from './snapshot';
export * from './style';
export * from './types';
