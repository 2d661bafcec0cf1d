import { Type, type Static } from 'typebox'

// Ids are BIGINTs: they travel as decimal strings so no JSON client loses precision past 2^53.
export const ORDER_ID_PATTERN = '^[1-9][0-9]{0,18}$'
export const MAX_ORDER_ID = 9223372036854775807n

export const OrderStatus = Type.Union(
  [Type.Literal('pending'), Type.Literal('paid'), Type.Literal('shipped'), Type.Literal('cancelled')],
  { description: 'order status' },
)

export const Order = Type.Object(
  {
    id: Type.String({ pattern: ORDER_ID_PATTERN }),
    userId: Type.Integer({ minimum: 1 }),
    item: Type.String(),
    quantity: Type.Integer({ minimum: 0 }),
    amountCents: Type.Integer({ minimum: 0 }),
    status: OrderStatus,
    version: Type.Integer({ minimum: 1, description: 'incremented by every update; a read returning a lower version than an acknowledged write is stale' }),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
)
export type Order = Static<typeof Order>

const item = Type.String({ minLength: 1, maxLength: 100 })
const quantity = Type.Integer({ minimum: 1, maximum: 1_000_000 })
const amountCents = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })

export const CreateOrderBody = Type.Object(
  {
    userId: Type.Integer({ minimum: 1, maximum: 4294967295 }),
    item,
    quantity,
    amountCents,
    status: Type.Optional(OrderStatus),
  },
  { additionalProperties: false },
)
export type CreateOrderBody = Static<typeof CreateOrderBody>

export const UpdateOrderBody = Type.Object(
  {
    item: Type.Optional(item),
    quantity: Type.Optional(quantity),
    amountCents: Type.Optional(amountCents),
    status: Type.Optional(OrderStatus),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateOrderBody = Static<typeof UpdateOrderBody>

export const OrderIdParams = Type.Object(
  { id: Type.String({ pattern: ORDER_ID_PATTERN, description: 'order id: a positive integer below 2^63' }) },
  { additionalProperties: false },
)
export type OrderIdParams = Static<typeof OrderIdParams>

/** The pattern admits 19-digit numbers above the BIGINT range; this closes the gap. */
export function isOrderIdInRange(id: string): boolean {
  return id.length < 19 || BigInt(id) <= MAX_ORDER_ID
}
