<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" version="1.1.0" xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:ogc="http://www.opengis.net/ogc" xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">
  <NamedLayer>
    <se:Name>unsafe-places</se:Name>
    <UserStyle>
      <se:Name>unsafe-places</se:Name>
      <se:FeatureTypeStyle>
        <se:Rule>
          <se:Name>Belysning</se:Name>
          <se:Description>
            <se:Title>Belysning</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:Or>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>ny</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
              </ogc:And>
              <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
            </ogc:Or>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>star</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#e69f00</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Skymd sikt, vegetation</se:Name>
          <se:Description>
            <se:Title>Skymd sikt, vegetation</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>ny</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                  <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                  <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>triangle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#e69f00</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Gångtunnel, ödslig plats</se:Name>
          <se:Description>
            <se:Title>Gångtunnel, ödslig plats</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>ny</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                  <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                    <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                    <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>square</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#e69f00</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Klotter, skräp, trasigt</se:Name>
          <se:Description>
            <se:Title>Klotter, skräp, trasigt</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>ny</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_klotter</ogc:PropertyName>
                    <ogc:PropertyName>problem_nedskrapning</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:PropertyName>problem_trasig_utrustning</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                      <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                    </ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                      <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                    </ogc:Or>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                    <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>diamond</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#e69f00</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Annat</se:Name>
          <se:Description>
            <se:Title>Annat</se:Title>
          </se:Description>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>circle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#e69f00</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Belysning</se:Name>
          <se:Description>
            <se:Title>Belysning</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:Or>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>planerad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
              </ogc:And>
              <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
            </ogc:Or>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>star</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#56b4e9</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Skymd sikt, vegetation</se:Name>
          <se:Description>
            <se:Title>Skymd sikt, vegetation</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>planerad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                  <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                  <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>triangle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#56b4e9</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Gångtunnel, ödslig plats</se:Name>
          <se:Description>
            <se:Title>Gångtunnel, ödslig plats</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>planerad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                  <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                    <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                    <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>square</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#56b4e9</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Klotter, skräp, trasigt</se:Name>
          <se:Description>
            <se:Title>Klotter, skräp, trasigt</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>planerad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_klotter</ogc:PropertyName>
                    <ogc:PropertyName>problem_nedskrapning</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:PropertyName>problem_trasig_utrustning</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                      <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                    </ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                      <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                    </ogc:Or>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                    <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>diamond</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#56b4e9</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Annat</se:Name>
          <se:Description>
            <se:Title>Annat</se:Title>
          </se:Description>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>circle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#56b4e9</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>15</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Belysning</se:Name>
          <se:Description>
            <se:Title>Belysning</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:Or>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>atgardad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
              </ogc:And>
              <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
            </ogc:Or>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>star</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#009e73</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Skymd sikt, vegetation</se:Name>
          <se:Description>
            <se:Title>Skymd sikt, vegetation</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>atgardad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                  <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                  <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>triangle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#009e73</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Gångtunnel, ödslig plats</se:Name>
          <se:Description>
            <se:Title>Gångtunnel, ödslig plats</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>atgardad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                  <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                    <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                    <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>square</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#009e73</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Klotter, skräp, trasigt</se:Name>
          <se:Description>
            <se:Title>Klotter, skräp, trasigt</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>atgardad</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_klotter</ogc:PropertyName>
                    <ogc:PropertyName>problem_nedskrapning</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:PropertyName>problem_trasig_utrustning</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                      <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                    </ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                      <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                    </ogc:Or>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                    <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>diamond</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#009e73</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Annat</se:Name>
          <se:Description>
            <se:Title>Annat</se:Title>
          </se:Description>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>circle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#009e73</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Belysning</se:Name>
          <se:Description>
            <se:Title>Belysning</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:Or>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>avslagen</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
              </ogc:And>
              <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
            </ogc:Or>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>star</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#999999</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Skymd sikt, vegetation</se:Name>
          <se:Description>
            <se:Title>Skymd sikt, vegetation</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>avslagen</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                  <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                  <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>triangle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#999999</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Gångtunnel, ödslig plats</se:Name>
          <se:Description>
            <se:Title>Gångtunnel, ödslig plats</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>avslagen</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                  <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                    <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                    <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>square</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#999999</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Klotter, skräp, trasigt</se:Name>
          <se:Description>
            <se:Title>Klotter, skräp, trasigt</se:Title>
          </se:Description>
          <ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">
            <ogc:And>
              <ogc:And>
                <ogc:PropertyIsEqualTo>
                  <ogc:PropertyName>status</ogc:PropertyName>
                  <ogc:Literal>avslagen</ogc:Literal>
                </ogc:PropertyIsEqualTo>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_klotter</ogc:PropertyName>
                    <ogc:PropertyName>problem_nedskrapning</ogc:PropertyName>
                  </ogc:Or>
                  <ogc:PropertyName>problem_trasig_utrustning</ogc:PropertyName>
                </ogc:Or>
              </ogc:And>
              <ogc:Not>
                <ogc:Or>
                  <ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_belysning_saknas</ogc:PropertyName>
                      <ogc:PropertyName>problem_belysning_dalig</ogc:PropertyName>
                    </ogc:Or>
                    <ogc:Or>
                      <ogc:PropertyName>problem_skymd_sikt</ogc:PropertyName>
                      <ogc:PropertyName>problem_vegetation</ogc:PropertyName>
                    </ogc:Or>
                  </ogc:Or>
                  <ogc:Or>
                    <ogc:PropertyName>problem_gangtunnel</ogc:PropertyName>
                    <ogc:PropertyName>problem_odslig_plats</ogc:PropertyName>
                  </ogc:Or>
                </ogc:Or>
              </ogc:Not>
            </ogc:And>
          </ogc:Filter>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>diamond</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#999999</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
        <se:Rule>
          <se:Name>Annat</se:Name>
          <se:Description>
            <se:Title>Annat</se:Title>
          </se:Description>
          <se:PointSymbolizer>
            <se:Graphic>
              <se:Mark>
                <se:WellKnownName>circle</se:WellKnownName>
                <se:Fill>
                  <se:SvgParameter name="fill">#999999</se:SvgParameter>
                </se:Fill>
                <se:Stroke>
                  <se:SvgParameter name="stroke">#1a1a1a</se:SvgParameter>
                  <se:SvgParameter name="stroke-width">1</se:SvgParameter>
                </se:Stroke>
              </se:Mark>
              <se:Size>11</se:Size>
            </se:Graphic>
          </se:PointSymbolizer>
        </se:Rule>
      </se:FeatureTypeStyle>
    </UserStyle>
  </NamedLayer>
</StyledLayerDescriptor>
