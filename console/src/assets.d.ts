// Vite imports stylesheets as modules; TypeScript needs to be told.
declare module '*.css';
