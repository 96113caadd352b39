export declare const REQUIRED_NODE_MAJOR: number;
export declare function nodeVersionProblem(found: string, bundled: boolean): string | undefined;
export declare function requireSupportedNode(): void;
