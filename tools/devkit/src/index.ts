export * from './local-registry';
export * from './image-builder';
export * from './sample-images';
export { ToolError } from './run-tool';
