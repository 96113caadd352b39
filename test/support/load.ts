export * from '../../demo-service/load';
