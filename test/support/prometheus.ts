export * from '../../demo-service/prometheus';
