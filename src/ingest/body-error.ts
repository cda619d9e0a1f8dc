import { Problem } from '../http/problem.js';

/** The body stopped being decodable; rows before this point are kept. */
export class BodyError extends Problem {}
