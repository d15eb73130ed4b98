import type { ExecutionContext } from '@nestjs/common';

/** The parts of a FastifyReply that guards and filters touch; records what was sent. */
export class FakeReply {
  sent = false;
  statusCode: number | null = null;
  readonly headers: Record<string, string | number> = {};
  body: unknown = undefined;
  sends = 0;

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  header(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  send(body: unknown): this {
    this.body = body;
    this.sends++;
    this.sent = true;
    return this;
  }
}

/**
 * An http ExecutionContext (and so ArgumentsHost) over a fake request and reply, as Nest hands it to
 * guards and exception filters in unit tests.
 */
export function httpContext(request: object, reply: FakeReply): ExecutionContext {
  const args: unknown[] = [request, reply];
  const http: ReturnType<ExecutionContext['switchToHttp']> = {
    getRequest: <T>() => request as unknown as T,
    getResponse: <T>() => reply as unknown as T,
    getNext: <T>() => undefined as unknown as T,
  };
  const unsupported = (): never => {
    throw new Error('not an http context');
  };
  return {
    getArgs: <T extends unknown[]>() => args as T,
    getArgByIndex: <T>(index: number) => args[index] as T,
    switchToHttp: () => http,
    switchToRpc: unsupported,
    switchToWs: unsupported,
    getType: <T extends string>() => 'http' as T,
    getClass: unsupported,
    getHandler: unsupported,
  };
}
