/** Every Redis key and channel the service uses, under one prefix (tests and replicas share a server). */
export class CacheKeys {
  constructor(readonly prefix: string) {}

  order(id: string): string {
    return `${this.prefix}order:${id}`
  }

  /** Pattern matching every cached order (for mass expiry and flush). */
  orderPattern(): string {
    return `${this.prefix}order:*`
  }

  lock(id: string): string {
    return `${this.prefix}lock:order:${id}`
  }

  strategies(): string {
    return `${this.prefix}strategies`
  }

  chaos(): string {
    return `${this.prefix}chaos`
  }

  /** Any other key of the service, named by purpose. */
  named(name: string): string {
    return `${this.prefix}${name}`
  }
}
