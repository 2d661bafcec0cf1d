-- Portable between MySQL 8 and MariaDB 10.11: no generated columns, no JSON, no CHECK reliance.
CREATE TABLE IF NOT EXISTS orders (
  id           BIGINT       NOT NULL,
  user_id      INT UNSIGNED NOT NULL,
  item         VARCHAR(100) NOT NULL,
  quantity     INT UNSIGNED NOT NULL,
  amount_cents BIGINT       NOT NULL,
  status       VARCHAR(16)  NOT NULL,
  version      INT UNSIGNED NOT NULL DEFAULT 1,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_orders_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
