export * from './apt-root';
export * from './bundle';
export * from './image-plan';
export * from './node-binary';
export * from './oci-layout';
export * from './build-images';
