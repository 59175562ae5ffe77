SELECT
  "t2"."customer_id",
  "t2"."rank",
  "t2"."product_id",
  "t3"."product_name",
  "t3"."product_type",
  "t3"."asset_class",
  "t3"."product_risk",
  "t2"."gap_amount",
  "t2"."score",
  CAST(FLOOR((
    "t2"."popularity_share" * 10000
  ) + 0.5) AS BIGINT) / 10000 AS "popularity",
  "t3"."expected_return",
  "t3"."is_pension",
  "t2"."dual_recording",
  CASE WHEN "t2"."dual_recording" THEN 'branch' ELSE 'any' END AS "channel",
  CONCAT_WS(
    '',
    '补足',
    CASE
      WHEN "t3"."asset_class" = 'cash'
      THEN '现金类'
      WHEN "t3"."asset_class" = 'fixed_income'
      THEN '固收类'
      WHEN "t3"."asset_class" = 'equity'
      THEN '权益类'
      WHEN "t3"."asset_class" = 'alternative'
      THEN '另类'
      WHEN "t3"."asset_class" = 'protection'
      THEN '保障类'
      ELSE NULL
    END,
    '配置缺口约',
    CASE WHEN (
      CAST("t2"."gap_amount" AS DOUBLE) / 10000
    ) < 0 THEN '-' ELSE '' END || CAST(CAST(FLOOR(
      (
        CAST(ROUND(ABS(CAST("t2"."gap_amount" AS DOUBLE) / 10000) * 10, 0) AS BIGINT)
      ) / (
        10
      )
    ) AS BIGINT) AS TEXT) || '.' || CAST(CAST(ROUND(ABS(CAST("t2"."gap_amount" AS DOUBLE) / 10000) * 10, 0) AS BIGINT) % 10 AS TEXT),
    '万元；',
    CASE
      WHEN CAST(CAST(ROUND("t2"."popularity_share" * 100, 0) AS BIGINT) AS TEXT) = '0'
      THEN ''
      ELSE '同类客户中' || CAST(CAST(ROUND("t2"."popularity_share" * 100, 0) AS BIGINT) AS TEXT) || '%持有；'
    END,
    CASE
      WHEN "t2"."assessed_risk_level" IS NOT NULL
      THEN '产品风险' || "t3"."product_risk" || '不高于客户风险等级' || "t2"."assessed_risk_level"
      ELSE '风险测评未完成或已过期，仅推荐非风险产品'
    END,
    CASE WHEN "t2"."dual_recording" THEN '；需在网点双录办理' ELSE '' END
  ) AS "reasons",
  'on_sale;' || CASE
    WHEN "t2"."assessed_risk_level" IS NOT NULL
    THEN 'risk_within_tolerance;'
    ELSE 'no_risk_product;'
  END || CASE WHEN "t3"."closed" THEN 'reserve_before_lockup;' ELSE '' END || CASE WHEN "t3"."is_pension" THEN 'pension_rules;' ELSE '' END || 'not_held;min_amount_within_gap' AS "rules_passed"
FROM "recommendation_picks" AS "t2"
INNER JOIN "recommendation_products" AS "t3"
  ON "t2"."product_id" = "t3"."product_id"
